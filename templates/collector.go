package templates

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

// The collector workspace: its pages share the "top", "bottom" and "rows" blocks of
// layout.html.tmpl, and its one stylesheet is served from the gateway's own origin so
// that the Content-Security-Policy can forbid inline styles and scripts altogether.
//
//go:embed collector/*.tmpl collector/collector.css
var collectorFiles embed.FS

const (
	collectorLogin   = "login.html.tmpl"
	collectorList    = "list.html.tmpl"
	collectorInvoice = "invoice.html.tmpl"
	collectorMessage = "message.html.tmpl"
)

// collectorSet is the parsed collector templates and stylesheet.
type collectorSet struct {
	pages *htmltemplate.Template
	css   []byte
}

func parseCollector(fsys fs.FS) (*collectorSet, error) {
	pages, err := htmltemplate.ParseFS(fsys, "collector/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse collector templates: %w", err)
	}
	css, err := fs.ReadFile(fsys, "collector/collector.css")
	if err != nil {
		return nil, fmt.Errorf("read collector stylesheet: %w", err)
	}
	set := &collectorSet{pages: pages, css: css}
	if err := set.selfCheck(); err != nil {
		return nil, err
	}
	return set, nil
}

// selfCheck executes every collector page with data that takes every branch.
func (c *collectorSet) selfCheck() error {
	layout := gateway.CollectorLayout{Title: "x", UserEmail: "x", CSRF: "x", Query: "x"}
	row := gateway.CollectorRow{URL: "/c/x", Number: "x", DaysOverdue: 1}
	d := gateway.Dispute{ID: "x", Reason: gateway.DisputeOther, Note: "x", Status: gateway.DisputeOpen, OpenedAt: time.Unix(0, 0)}
	resolved := d
	resolved.Status, resolved.ResolvedAt, resolved.Outcome, resolved.Resolution = gateway.DisputeResolved, &d.OpenedAt, gateway.OutcomeRejected, "x"
	f := &gateway.InvoiceFile{
		Record: &gateway.Record{ID: "inv_x", Deliveries: []gateway.Delivery{{ID: "d", LastReply: "x"}}},
		Events: []gateway.Event{
			gateway.NewEvent("inv_x", "d", gateway.EventOpened, time.Unix(0, 0), map[string]string{"classification": "machine", "reason": "x", "ip": "x"}),
			gateway.NewEvent("inv_x", "d", gateway.EventFailed, time.Unix(1, 0), map[string]string{"reason": "x"}),
		},
		Artefacts:         []gateway.Artefact{{Name: "x", Key: "x", SHA256: "x"}},
		Disputes:          []gateway.Dispute{d, resolved},
		DisputesAvailable: true,
	}
	inv := f.View(func(string) string { return "/c/x" })
	inv.CollectorLayout, inv.Notice, inv.DisputeError, inv.PDFURL, inv.BundleURL, inv.DisputeURL = layout, "x", "x", "/c/x", "/c/x", "/c/x"
	empty := (&gateway.InvoiceFile{Record: &gateway.Record{ID: "inv_x"}}).View(func(string) string { return "" })
	checks := []struct {
		name string
		data any
	}{
		{collectorLogin, gateway.CollectorLoginView{CollectorLayout: layout, Email: "x", Next: "/c", Error: "x"}},
		{collectorList, gateway.CollectorListView{CollectorLayout: layout, Heading: "x", Intro: "x", Rows: []gateway.CollectorRow{row}}},
		{collectorList, gateway.CollectorListView{CollectorLayout: layout, Searched: true, Error: "x"}},
		{collectorList, gateway.CollectorListView{}},
		{collectorInvoice, inv},
		{collectorInvoice, empty},
		{collectorMessage, gateway.CollectorMessageView{CollectorLayout: layout, Message: "x"}},
	}
	for _, ch := range checks {
		if err := writeTemplate(io.Discard, c.pages, ch.name, ch.data); err != nil {
			return fmt.Errorf("check collector template: %w", err)
		}
	}
	return nil
}

// CollectorLogin writes the sign-in page.
func (t *Templates) CollectorLogin(w io.Writer, v gateway.CollectorLoginView) error {
	return writeTemplate(w, t.collector.pages, collectorLogin, v)
}

// CollectorList writes the worklist or a search result.
func (t *Templates) CollectorList(w io.Writer, v gateway.CollectorListView) error {
	return writeTemplate(w, t.collector.pages, collectorList, v)
}

// CollectorInvoice writes the invoice page.
func (t *Templates) CollectorInvoice(w io.Writer, v gateway.CollectorInvoiceView) error {
	return writeTemplate(w, t.collector.pages, collectorInvoice, v)
}

// CollectorMessage writes a page that only says something (not found, an error).
func (t *Templates) CollectorMessage(w io.Writer, v gateway.CollectorMessageView) error {
	return writeTemplate(w, t.collector.pages, collectorMessage, v)
}

// CollectorCSS returns the workspace's stylesheet.
func (t *Templates) CollectorCSS() []byte { return t.collector.css }
