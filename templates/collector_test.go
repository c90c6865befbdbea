package templates

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

func TestCollectorTemplatesFailStartUpWhenBroken(t *testing.T) {
	cases := []struct{ name, file, content string }{
		{"refuses a syntax error", "collector/list.html.tmpl", `{{template "top" .}}{{if}}`},
		{"refuses a field that does not exist", "collector/invoice.html.tmpl", `{{template "top" .}}{{.NoSuchField}}{{template "bottom" .}}`},
		{"refuses a missing stylesheet", "collector/collector.css", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			err := fs.WalkDir(collectorFiles, "collector", func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(collectorFiles, path)
				fsys[path] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.content == "" {
				delete(fsys, c.file)
			} else {
				fsys[c.file] = &fstest.MapFile{Data: []byte(c.content)}
			}
			if _, err := parseCollector(fsys); err == nil {
				t.Errorf("parseCollector with broken %s: got nil error, want one", c.file)
			}
		})
	}
}

func TestCollectorInvoicePageEscapesAndMarks(t *testing.T) {
	tmpl, err := New()
	if err != nil {
		t.Fatal(err)
	}
	f := &gateway.InvoiceFile{
		Record: &gateway.Record{ID: "inv_1", Invoice: gateway.Invoice{Number: `<script>alert(1)</script>`}},
		Events: []gateway.Event{
			gateway.NewEvent("inv_1", "", gateway.EventBounced, time.Unix(0, 0), map[string]string{"reason": "550 5.1.1 <jane@x> unknown"}),
		},
		DisputesAvailable: true,
	}
	v := f.View(func(string) string { return "" })
	v.CSRF = "tok"
	var b bytes.Buffer
	if err := tmpl.CollectorInvoice(&b, v); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `class="event negative"`, "✕ no evidence", `name="csrf" value="tok"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") {
		t.Errorf("page has a script or an inline style, which the CSP forbids")
	}
}
