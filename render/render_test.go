package render_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/render"
)

const exampleJSON = `{"number":"INV-2026-0042","issue_date":"2026-11-23","due_date":"2026-12-23","currency":"EUR",
"seller":{"name":"Acme Supplies GmbH","email":"billing@acme.test","tax_id":"DE123456789","address":{"line1":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DE"}},
"customer":{"id":"CUST-7","name":"Globex Ltd","address":{"line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"},"contact":{"name":"Jane Doe","email":"jane.doe@globex.test"}},
"lines":[{"description":"Widget","quantity":"3","unit_price":"19.99","tax_rate":"19"}],
"terms":"Payment due within 30 days of the invoice date. Late payments accrue 1% interest per month.",
"payment":{"iban":"DE89370400440532013000","bic":"COBADEFFXXX","reference":"INV-2026-0042"}}`

func exampleInvoice(t testing.TB) gateway.Invoice {
	t.Helper()
	var inv gateway.Invoice
	if err := json.Unmarshal([]byte(exampleJSON), &inv); err != nil {
		t.Fatalf("decode example invoice: %v", err)
	}
	return inv
}

// document computes the totals the way the gateway does and wraps inv for printing.
func document(t testing.TB, inv gateway.Invoice) gateway.Document {
	t.Helper()
	totals, err := inv.Validate()
	if err != nil {
		t.Fatalf("validate invoice: %v", err)
	}
	sum := sha256.Sum256([]byte(inv.Terms))
	return gateway.Document{InvoiceID: "inv_test", Invoice: inv, Totals: totals, Terms: inv.Terms, TermsSHA256: hex.EncodeToString(sum[:])}
}

func unicodeInvoice(t testing.TB) gateway.Invoice {
	inv := exampleInvoice(t)
	inv.Seller.Name = "Ελληνική Εταιρεία"
	inv.Customer.Name = "ООО Ромашка"
	inv.Customer.Contact.Name = "Zoë Łukasiewicz"
	return inv
}

func withLines(inv gateway.Invoice, n int) gateway.Invoice {
	inv.Lines = make([]gateway.Line, n)
	for i := range inv.Lines {
		inv.Lines[i] = gateway.Line{
			Description: fmt.Sprintf("Item %03d", i+1),
			Quantity:    gateway.DecimalText(fmt.Sprint(i%7 + 1)),
			Unit:        "pcs",
			UnitPrice:   "4.25",
			TaxRate:     []gateway.DecimalText{"19", "7"}[i%2],
		}
	}
	return inv
}

// longTerms is about four pages of terms at the size they are printed in.
func longTerms() string {
	var b strings.Builder
	for i := range 30 {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "%d. Clause %d.", i+1, i+1)
		for range 6 {
			b.WriteString(" The customer shall pay every invoice in full, without set-off or deduction, to the account named on it.")
		}
	}
	return b.String()
}

func newRenderer(t testing.TB) *render.Renderer {
	t.Helper()
	r, err := render.New()
	if err != nil {
		t.Fatalf("render.New: %v", err)
	}
	return r
}

// requireTool finds a command-line checker. Without it the test cannot see the
// PDF as a reader would: that is a failure in CI and a skip on a laptop.
func requireTool(t *testing.T, name, debPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (install the Debian package %s): cannot check the rendered PDF", name, debPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; with CI=true this is a failure")
	return ""
}

// pdfPages returns the text of each page as pdftotext extracts it, with runs of
// white space collapsed so that assertions do not depend on column layout.
func pdfPages(t *testing.T, pdf []byte) []string {
	t.Helper()
	cmd := exec.Command(requireTool(t, "pdftotext", "poppler-utils"), "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, stderr.String())
	}
	pages := strings.Split(string(out), "\f")
	if pages[len(pages)-1] == "" {
		pages = pages[:len(pages)-1] // pdftotext ends every page with a form feed
	}
	for i, p := range pages {
		pages[i] = collapse(p)
	}
	return pages
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func mustRender(t *testing.T, r *render.Renderer, doc gateway.Document) []byte {
	t.Helper()
	pdf, err := r.RenderInvoice(doc)
	if err != nil {
		t.Fatalf("RenderInvoice: %v", err)
	}
	return pdf
}

func TestRenderInvoicePrints(t *testing.T) {
	r := newRenderer(t)
	example := document(t, exampleInvoice(t))
	long := exampleInvoice(t)
	long.Terms = longTerms()
	var items []string
	for i := range 200 {
		items = append(items, fmt.Sprintf("Item %03d", i+1))
	}

	tests := []struct {
		name           string
		doc            gateway.Document
		want           []string // somewhere in the document
		wantOnLastPage []string
		multiPage      bool
		// tablePages: every page with line items also has the column titles.
		tablePages bool
	}{
		{
			name: "prints the example invoice",
			doc:  example,
			want: []string{
				"Invoice INV-2026-0042",
				"Acme Supplies GmbH", "Hauptstr. 1", "10115 Berlin", "Tax ID: DE123456789", "E-mail: billing@acme.test",
				"Invoice number INV-2026-0042", "Issue date 2026-11-23", "Due date 2026-12-23", "Currency EUR",
				"Globex Ltd", "Attn: Jane Doe", "1 Main St", "12345 Springfield",
				"Widget 3 19.99 19% 59.97",
				"Subtotal EUR 59.97", "Tax 19% on EUR 59.97 EUR 11.39", "Total EUR 71.36", "Amount due EUR 71.36",
				"IBAN DE89370400440532013000", "BIC COBADEFFXXX", "Reference INV-2026-0042",
				"Terms and conditions", example.Terms,
			},
			wantOnLastPage: []string{"Terms SHA-256: " + example.TermsSHA256},
		},
		{
			name: "prints Greek, Cyrillic and Latin names with diacritics",
			doc:  document(t, unicodeInvoice(t)),
			want: []string{"Ελληνική Εταιρεία", "ООО Ромашка", "Attn: Zoë Łukasiewicz", "Amount due EUR 71.36"},
		},
		{
			name:           "flows 200 lines over pages and ends with the terms",
			doc:            document(t, withLines(exampleInvoice(t), 200)),
			want:           items,
			wantOnLastPage: []string{"Terms and conditions", example.Terms, "Terms SHA-256: "},
			multiPage:      true,
			tablePages:     true,
		},
		{
			name:           "flows long terms over pages",
			doc:            document(t, long),
			want:           []string{"Terms and conditions", long.Terms},
			wantOnLastPage: []string{"to the account named on it. Terms SHA-256: "},
			multiPage:      true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := pdfPages(t, mustRender(t, r, tt.doc))
			n := len(pages)
			if got := n > 1; got != tt.multiPage {
				t.Fatalf("got %d pages, want multi-page %v", n, tt.multiPage)
			}
			var bodies []string // the pages without their footers, so text reads on across pages
			for i, p := range pages {
				footer := fmt.Sprintf("Page %d of %d", i+1, n)
				if !strings.Contains(p, footer) {
					t.Errorf("page %d: got no %q in footer; page text: %s", i+1, footer, p)
				}
				bodies = append(bodies, strings.Replace(p, footer, "", 1))
			}
			all := collapse(strings.Join(bodies, " "))
			for _, want := range tt.want {
				if !strings.Contains(all, collapse(want)) {
					t.Errorf("got text without %q; text: %s", want, all)
				}
			}
			const titles = "Description Qty Unit Unit price (EUR) Tax rate Amount (EUR)"
			for i, p := range pages {
				if tt.tablePages && strings.Contains(p, "Item ") && !strings.Contains(p, titles) {
					t.Errorf("page %d: got line items without the column titles %q; page text: %s", i+1, titles, p)
				}
			}
			for _, want := range tt.wantOnLastPage {
				if !strings.Contains(pages[n-1], collapse(want)) {
					t.Errorf("got last page without %q; last page: %s", want, pages[n-1])
				}
			}
		})
	}
}

func TestRenderInvoicePassesQPDFCheck(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name string
		doc  gateway.Document
	}{
		{"checks the example invoice", document(t, exampleInvoice(t))},
		{"checks a Unicode invoice", document(t, unicodeInvoice(t))},
		{"checks a multi-page invoice", document(t, withLines(exampleInvoice(t), 200))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qpdf := requireTool(t, "qpdf", "qpdf")
			path := filepath.Join(t.TempDir(), "invoice.pdf")
			if err := os.WriteFile(path, mustRender(t, r, tt.doc), 0o600); err != nil {
				t.Fatalf("write pdf: %v", err)
			}
			out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
			if err != nil {
				t.Fatalf("qpdf --check: got %v, want success; output:\n%s", err, out)
			}
		})
	}
}

func TestRenderInvoiceIsReproducible(t *testing.T) {
	tests := []struct {
		name string
		doc  gateway.Document
	}{
		{"renders the example invoice identically", document(t, exampleInvoice(t))},
		{"renders a Unicode invoice identically", document(t, unicodeInvoice(t))},
		{"renders a multi-page invoice identically", document(t, withLines(exampleInvoice(t), 200))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Separate renderers: nothing may carry over from one render to the next.
			first := mustRender(t, newRenderer(t), tt.doc)
			r := newRenderer(t)
			for i := range 3 {
				got := mustRender(t, r, tt.doc)
				if !bytes.Equal(got, first) {
					at := 0
					for at < min(len(got), len(first)) && got[at] == first[at] {
						at++
					}
					t.Fatalf("render %d: got %d bytes differing from the first render's %d at offset %d: %q vs %q",
						i+2, len(got), len(first), at, excerpt(got, at), excerpt(first, at))
				}
			}
			for _, want := range []string{"/CreationDate (D:20261123000000)", "/ModDate (D:20261123000000)"} {
				if !bytes.Contains(first, []byte(want)) {
					t.Errorf("got PDF without %q, want dates fixed to the issue date", want)
				}
			}
		})
	}
}

func TestRenderInvoiceConcurrently(t *testing.T) {
	r := newRenderer(t)
	docs := []gateway.Document{
		document(t, exampleInvoice(t)),
		document(t, unicodeInvoice(t)),
		document(t, withLines(exampleInvoice(t), 60)),
	}
	want := make([][]byte, len(docs))
	for i, d := range docs {
		want[i] = mustRender(t, r, d)
	}
	const workers = 6
	errs := make(chan error, workers*len(docs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range docs {
				i := (w + k) % len(docs)
				got, err := r.RenderInvoice(docs[i])
				switch {
				case err != nil:
					errs <- fmt.Errorf("document %d: %w", i, err)
				case !bytes.Equal(got, want[i]):
					errs <- fmt.Errorf("document %d: got %d bytes unlike the %d of a render alone", i, len(got), len(want[i]))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func excerpt(b []byte, at int) []byte { return b[max(0, at-20):min(len(b), at+20)] }

func TestRenderInvoiceRefuses(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name       string
		edit       func(*gateway.Document)
		wantKind   gateway.Kind
		wantFields []string
		wantInMsg  string
	}{
		{
			name:       "refuses empty terms",
			edit:       func(d *gateway.Document) { d.Terms = "" },
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"terms"},
		},
		{
			name:       "refuses terms of only white space",
			edit:       func(d *gateway.Document) { d.Terms = " \n\t " },
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"terms"},
		},
		{
			name:       "refuses a Chinese character in the customer name",
			edit:       func(d *gateway.Document) { d.Invoice.Customer.Name = "Globex \u4e2d Ltd" },
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"customer.name"},
			wantInMsg:  "\u4e2d",
		},
		{
			name: "refuses an emoji in a line description",
			edit: func(d *gateway.Document) {
				d.Invoice.Lines = slices.Clone(d.Invoice.Lines)
				d.Invoice.Lines[0].Description = "Widget \U0001F600"
			},
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"lines[0].description"},
			wantInMsg:  "\U0001F600",
		},
		{
			name: "names every field with an unprintable character",
			edit: func(d *gateway.Document) {
				d.Invoice.Seller.Name = "Acme \u4e2d"
				d.Terms += "\nSee \u4e2d."
				d.Invoice.Notes = "Thanks \U0001F600"
			},
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"seller.name", "notes", "terms"},
		},
		{
			name:       "refuses totals not computed for these lines",
			edit:       func(d *gateway.Document) { d.Totals.Lines = nil },
			wantKind:   gateway.KindInternal,
			wantFields: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := document(t, exampleInvoice(t))
			tt.edit(&doc)
			pdf, err := r.RenderInvoice(doc)
			var e *gateway.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %d bytes and error %v, want a *gateway.Error", len(pdf), err)
			}
			if e.Kind != tt.wantKind {
				t.Errorf("got kind %q, want %q (error: %v)", e.Kind, tt.wantKind, e)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			slices.Sort(fields)
			want := slices.Sorted(slices.Values(tt.wantFields))
			if !slices.Equal(fields, want) {
				t.Errorf("got fields %q, want %q", fields, want)
			}
			if !strings.Contains(e.Error(), tt.wantInMsg) {
				t.Errorf("got error %q, want it to name %q", e.Error(), tt.wantInMsg)
			}
		})
	}
}
