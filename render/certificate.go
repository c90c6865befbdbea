package render

import (
	"fmt"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/config"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/consts/pagesize"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
)

var _ gateway.CertificateRenderer = (*Renderer)(nil)

// certTimelineRows bounds the timeline printed on the certificate: it stays one or
// two pages, and the full timeline is in the bundle's manifest.
const certTimelineRows = 40

// certificate grid: 12 columns are enough for its simple tables.
const certGrid = 12

// RenderCertificate implements gateway.CertificateRenderer: the delivery
// certificate of a proof bundle, which states in plain words what the evidence
// shows, what each level of it proves and what it does not.
func (r *Renderer) RenderCertificate(c gateway.Certificate) ([]byte, error) {
	cfg := config.NewBuilder().
		WithPageSize(pagesize.A4).
		WithLeftMargin(marginSide).WithRightMargin(marginSide).
		WithTopMargin(marginTop).WithBottomMargin(marginBottom).
		WithMaxGridSize(certGrid).
		WithCustomFonts(r.fonts).
		WithDefaultFont(&props.Font{Family: fontFamily, Style: fontstyle.Normal, Size: sizeBody, Color: &props.BlackColor}).
		WithPageNumber(props.PageNumber{Pattern: "Page {current} of {total}", Place: props.RightBottom, Size: sizeSmall, Color: &grey}).
		WithTitle("Delivery certificate for invoice "+c.Number, true).
		WithAuthor("invoicegw", false).
		WithCreator("invoicegw", false).
		WithCreationDate(c.GeneratedAt).
		WithCompression(true).
		Build()
	m := maroto.New(cfg)

	para := func(s string, size float64, bold bool, color *props.Color, top float64) core.Row {
		p := props.Text{Family: fontFamily, Size: size, Top: top, Color: color}
		if bold {
			p.Style = fontstyle.Bold
		}
		return text.NewAutoRow(s, p)
	}
	heading := func(s string) {
		m.AddRows(row.New(3), para(s, sizeHeading+1, true, nil, 0), row.New(1))
	}
	cells := func(st props.Text, spans []int, values ...string) core.Row {
		cols := make([]core.Col, len(values))
		for i, v := range values {
			cols[i] = col.New(spans[i]).Add(text.New(v, st))
		}
		return row.New().Add(cols...)
	}
	small := props.Text{Family: fontFamily, Size: sizeSmall, Right: 1}
	smallBold := small
	smallBold.Style = fontstyle.Bold
	smallGrey := small
	smallGrey.Color = &grey

	m.AddRows(
		para("Delivery certificate", sizeTitle, true, nil, 0),
		para(fmt.Sprintf("Invoice %s from %s to %s, %s, issued %s, due %s", c.Number, c.Seller, c.Customer, c.Amount, c.IssueDate, c.DueDate), sizeNumber, false, nil, 2),
		para(fmt.Sprintf("Prepared %s by invoicegw from the invoice's tamper-evident event log (invoice id %s). This certificate is part of a signed evidence bundle: anyone can check the bundle offline with `invoicegw verify` and the gateway's public key %s (key id %s).",
			gateway.FormatTime(c.GeneratedAt), c.InvoiceID, c.PublicKey, c.KeyID), sizeSmall, false, &grey, 2),
	)

	heading("What the evidence shows")
	for _, s := range c.Summary {
		m.AddRows(para("• "+s, sizeBody, false, nil, 1))
	}

	heading("Strongest evidence per recipient")
	for _, rp := range c.Recipients {
		level := "nothing on the evidence ladder yet"
		if rp.HighestLevel >= 0 {
			level = fmt.Sprintf("level %d, %s (%s at %s)", rp.HighestLevel, gateway.LevelName(rp.HighestLevel), rp.HighestEvent, gateway.FormatTime(rp.HighestAt))
		}
		m.AddRows(para(fmt.Sprintf("%s <%s>: %s", rp.Name, rp.Email, level), sizeBody, false, nil, 1))
	}

	heading("Timeline")
	spans := []int{3, 2, 2, 5}
	m.AddRows(cells(smallBold, spans, "time (UTC)", "event", "level", "by / reply"))
	shown := c.Timeline
	if len(shown) > certTimelineRows {
		shown = shown[:certTimelineRows]
	}
	for _, e := range shown {
		st := small
		who := e.Classification
		if e.Machine {
			st = smallGrey
			who = "machine, not counted"
		}
		if e.Reason != "" && who != "" {
			who += ": " + e.Reason
		} else if e.Reason != "" {
			who = e.Reason
		}
		level := "-"
		if e.Level >= 0 {
			level = fmt.Sprintf("%d %s", e.Level, e.LevelName)
		}
		m.AddRows(cells(st, spans, e.At.UTC().Format("2006-01-02 15:04:05"), string(e.Type), level, clip(who, 90)))
	}
	if n := len(c.Timeline) - len(shown); n > 0 {
		m.AddRows(para(fmt.Sprintf("... and %d later events, listed in full in manifest.json.", n), sizeSmall, false, &grey, 1))
	}

	heading("What each level proves, and what it does not")
	for _, l := range c.Levels {
		m.AddRows(para(fmt.Sprintf("Level %d, %s (%s)", l.Level, l.Name, l.Events), sizeBody, true, nil, 1.5),
			para("Proves: "+l.Proves, sizeSmall, false, nil, 0.5),
			para("Does not prove: "+l.DoesNotProve, sizeSmall, false, &grey, 0.5))
	}
	m.AddRows(para("Bounced, failed, delayed, complained and unknown outcomes are not on the ladder: they record what went wrong, with the raw evidence archived. Events marked machine (privacy proxies, security scanners) are shown but never counted as a person.",
		sizeSmall, false, nil, 1.5))

	heading("Integrity")
	m.AddRows(para(fmt.Sprintf("The timeline is a hash chain of %d events (SHA-256 over each event's canonical JSON and the previous hash); its head is %s. Altering, removing or reordering any event changes the head.", c.ChainLength, c.ChainHead), sizeSmall, false, nil, 1))
	for _, a := range c.Artefacts {
		m.AddRows(para(fmt.Sprintf("%s (%s): SHA-256 %s", a.Name, a.Kind, a.SHA256), sizeHash+0.5, false, &grey, 0.5))
	}

	doc, err := m.Generate()
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, fmt.Errorf("generate certificate pdf: %w", err), "the delivery certificate could not be printed")
	}
	out := doc.GetBytes()
	if err := pinModDate(out, c.GeneratedAt); err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, err, "the delivery certificate could not be printed")
	}
	return out, nil
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
