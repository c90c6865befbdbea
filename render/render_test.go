package render_test

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/i18n"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/render/pdftest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current output")

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return body
}

// fixture decodes testdata/name.json exactly as intake does.
func fixture(t testing.TB, name string) gateway.Invoice {
	t.Helper()
	inv, err := gateway.DecodeInvoice(mustRead(t, name))
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return *inv
}

func fixtureNames(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("list fixtures: got %d, %v", len(paths), err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return names
}

// document validates inv (computing its totals the way the gateway does) and
// wraps it for printing.
func document(t testing.TB, inv gateway.Invoice) gateway.Document {
	t.Helper()
	totals, err := inv.Validate()
	if err != nil {
		t.Fatalf("validate invoice: %v", err)
	}
	sum := sha256.Sum256([]byte(inv.Terms))
	return gateway.Document{InvoiceID: "inv_test", Invoice: inv, Totals: totals, Terms: inv.Terms,
		TermsSHA256: hex.EncodeToString(sum[:]), TermsVersion: "tenant-2026-11"}
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

func newRenderer(t testing.TB) *render.Renderer {
	t.Helper()
	r, err := render.New()
	if err != nil {
		t.Fatalf("render.New: %v", err)
	}
	return r
}

func mustRender(t testing.TB, r *render.Renderer, doc gateway.Document) []byte {
	t.Helper()
	pdf, err := r.RenderInvoice(doc)
	if err != nil {
		t.Fatalf("RenderInvoice: %v", err)
	}
	return pdf
}

// reading is a rendered invoice as a reader gets it: the page texts, and the body
// text with every page's footer taken out, so that text reads on across pages.
type reading struct {
	pages []string
	body  string
}

func read(t testing.TB, doc gateway.Document, pdf []byte) reading {
	t.Helper()
	loc, err := i18n.Lookup(doc.Invoice.Locale)
	if err != nil {
		t.Fatal(err)
	}
	pages := pdftest.Pages(t, pdf)
	var bodies []string
	for i, p := range pages {
		lines := pdftest.Lines(p)
		number := strings.NewReplacer("{current}", fmt.Sprint(i+1), "{total}", fmt.Sprint(len(pages))).Replace(loc.T("page"))
		// The footer: the seller line, the registration, the page number.
		if n := len(lines); n < 2 || lines[n-1] != number {
			t.Errorf("page %d: got last line %q, want %q", i+1, lines[len(lines)-1], number)
		}
		if reg := doc.Invoice.Seller.Registration; reg != "" && !slices.Contains(lines, reg) {
			t.Errorf("page %d: got no legal footer %q", i+1, reg)
		}
		cut := len(lines) - 1
		for cut > 0 && (strings.HasPrefix(lines[cut-1], doc.Invoice.Seller.Name+" ·") || lines[cut-1] == doc.Invoice.Seller.Registration) {
			cut--
		}
		bodies = append(bodies, strings.Join(lines[:cut], " "))
	}
	return reading{pages: pages, body: pdftest.Collapse(strings.Join(bodies, " "))}
}

// TestRenderInvoiceExamples renders every example in testdata/ and reads it back
// as a customer's accounts-payable clerk would: text extraction must find the
// number, both parties, the contact, the totals, the amount due and the full
// terms; qpdf must find the file sound; and the whole text must match the golden
// file (go test -run TestRenderInvoiceExamples -update refreshes it).
func TestRenderInvoiceExamples(t *testing.T) {
	r := newRenderer(t)
	// Pages that must come out: a short invoice on one page, long ones on more.
	wantMultiPage := map[string]bool{"one-line": false, "multipage-200-lines": true, "long-terms": true}
	for _, name := range fixtureNames(t) {
		t.Run("prints "+name, func(t *testing.T) {
			doc := document(t, fixture(t, name))
			pdf := mustRender(t, r, doc)
			pdftest.Check(t, pdf)
			got := read(t, doc, pdf)
			if want, ok := wantMultiPage[name]; ok && (len(got.pages) > 1) != want {
				t.Errorf("got %d pages, want multi-page %v", len(got.pages), want)
			}
			loc, _ := i18n.Lookup(doc.Invoice.Locale)
			inv, tot := doc.Invoice, doc.Totals
			want := []string{
				inv.Number, inv.Seller.Name, inv.Customer.Name, loc.T("invoice.attn", inv.Customer.Contact.Name),
				loc.T("invoice.subtotal") + " " + loc.Money(tot.Subtotal, inv.Currency),
				loc.T("invoice.total") + " " + loc.Money(tot.Total, inv.Currency),
				loc.T("invoice.amount_due") + " " + loc.Money(tot.AmountDue, inv.Currency),
				loc.T("invoice.terms") + " " + doc.Terms,
				loc.T("invoice.terms_version", doc.TermsVersion), loc.T("invoice.terms_sha256", doc.TermsSHA256),
			}
			for i, l := range inv.Lines {
				want = append(want, l.Description+" ", loc.Number(tot.Lines[i]))
			}
			for _, w := range want {
				if !strings.Contains(got.body, pdftest.Collapse(w)) {
					t.Errorf("got text without %q", w)
				}
			}
			if t.Failed() {
				t.Logf("text: %s", got.body)
			}
			golden(t, filepath.Join("testdata", "golden", name+".txt"), []byte(strings.Join(pageLines(got.pages), "\n")+"\n"))
		})
	}
}

// pageLines is the golden form of the text: collapsed lines, pages separated by a
// marker, so that layout changes show in review as readable diffs.
func pageLines(pages []string) []string {
	var out []string
	for i, p := range pages {
		out = append(out, fmt.Sprintf("--- page %d ---", i+1))
		out = append(out, pdftest.Lines(p)...)
	}
	return out
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (create it with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s line %d: got %q, want %q (refresh with -update if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

// TestRenderInvoiceIsReproducible renders every example twice with separate
// renderers and compares the bytes, and compares their SHA-256 with the ones
// recorded in testdata/golden/sha256.txt: the hash recorded as evidence for a sent
// invoice must be re-derivable from its data. (A Go or dependency upgrade that
// changes compression output shows up here; refresh with -update after checking
// the texts are unchanged.)
func TestRenderInvoiceIsReproducible(t *testing.T) {
	first, second := newRenderer(t), newRenderer(t)
	var sums []string
	for _, name := range fixtureNames(t) {
		doc := document(t, fixture(t, name))
		a, b := mustRender(t, first, doc), mustRender(t, second, doc)
		if !bytes.Equal(a, b) {
			at := 0
			for at < min(len(a), len(b)) && a[at] == b[at] {
				at++
			}
			t.Errorf("%s: got renders of %d and %d bytes differing at offset %d: %q vs %q",
				name, len(a), len(b), at, excerpt(a, at), excerpt(b, at))
		}
		stamp := "D:" + doc.Invoice.IssueDate.Format("20060102") + "000000"
		for _, want := range []string{"/CreationDate (" + stamp + ")", "/ModDate (" + stamp + ")"} {
			if !bytes.Contains(a, []byte(want)) {
				t.Errorf("%s: got PDF without %q, want dates fixed to the issue date", name, want)
			}
		}
		sum := sha256.Sum256(a)
		sums = append(sums, name+" "+hex.EncodeToString(sum[:]))
	}
	golden(t, filepath.Join("testdata", "golden", "sha256.txt"), []byte(strings.Join(sums, "\n")+"\n"))
}

func excerpt(b []byte, at int) []byte { return b[max(0, at-20):min(len(b), at+20)] }

func TestRenderInvoiceMetadata(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name, fixture string
		want          map[string]string
	}{
		{"sets English metadata", "one-line", map[string]string{
			"Title": "Invoice INV-2026-0042", "Author": "Acme Supplies GmbH", "Subject": "INV-2026-0042",
			"Creator": "invoicegw", "CreationDate": "2026-11-23T00:00:00Z", "ModDate": "2026-11-23T00:00:00Z",
		}},
		{"sets a German title", "locale-de", map[string]string{"Title": "Rechnung INV-2026-DE", "Author": "Acme Versand GmbH"}},
		{"keeps Greek in the author", "unicode-names", map[string]string{"Author": "Ελληνική Εταιρεία"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf := mustRender(t, r, document(t, fixture(t, tt.fixture)))
			info := pdftest.Info(t, pdf)
			for k, want := range tt.want {
				if got := info[k]; got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if !bytes.Contains(pdf, []byte("/Filter /FlateDecode")) || bytes.Contains(pdf, []byte(" Tj")) {
				t.Errorf("got uncompressed page content, want every stream compressed")
			}
		})
	}
}

// TestRenderInvoiceEPCQRCode reads the payment QR code back from the rendered
// page, as a banking app would.
func TestRenderInvoiceEPCQRCode(t *testing.T) {
	r := newRenderer(t)
	paid := fixture(t, "one-line")
	paid.AmountPaid = "71.36"
	tests := []struct {
		name string
		inv  gateway.Invoice
		want []string
	}{
		{"encodes a SEPA transfer of the amount due", fixture(t, "one-line"), []string{
			"BCD\n002\n1\nSCT\nCOBADEFFXXX\nAcme Supplies GmbH\nDE89370400440532013000\nEUR71.36\n\n\nINV-2026-0042",
		}},
		{"takes the amount due after what was paid", fixture(t, "discounts"), []string{
			"BCD\n002\n1\nSCT\nCOBADEFFXXX\nAcme Supplies GmbH\nDE89370400440532013000\nEUR18047.99\n\n\nINV-2026-0042",
		}},
		{"has no code for an invoice in dinars", fixture(t, "bhd"), nil},
		{"has no code without an IBAN", fixture(t, "us-bank"), nil},
		{"has no code when nothing is due", paid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf := mustRender(t, r, document(t, tt.inv))
			var got []string
			for page := range len(pdftest.Pages(t, pdf)) {
				got = append(got, pdftest.QRCodes(t, pdf, page+1)...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got QR codes %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderInvoiceFlowsOverPages(t *testing.T) {
	r := newRenderer(t)
	doc := document(t, fixture(t, "multipage-200-lines"))
	got := read(t, doc, mustRender(t, r, doc))
	const titles = "Description Qty Unit Unit price (EUR) Tax Amount (EUR)"
	for i, p := range got.pages {
		p = pdftest.Collapse(p)
		if strings.Contains(p, "Item ") && !strings.Contains(p, titles) {
			t.Errorf("page %d: got line items without the column titles %q", i+1, titles)
		}
	}
	last := pdftest.Collapse(got.pages[len(got.pages)-1])
	for _, want := range []string{"Terms and conditions", pdftest.Collapse(doc.Terms), "Terms SHA-256: " + doc.TermsSHA256} {
		if !strings.Contains(last, want) {
			t.Errorf("got last page without %q", want)
		}
	}
	for i := range 200 {
		if item := fmt.Sprintf("Item %03d ", i+1); !strings.Contains(got.body, item) {
			t.Errorf("got text without line %q", item)
		}
	}
}

func TestRenderInvoiceConcurrently(t *testing.T) {
	r := newRenderer(t)
	docs := []gateway.Document{
		document(t, fixture(t, "one-line")),
		document(t, fixture(t, "unicode-names")),
		document(t, withLines(fixture(t, "locale-fr"), 60)),
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
				d.Invoice.Seller.Registration = "HRB \u4e2d"
				d.Invoice.PurchaseOrder = "PO \u4e2d"
			},
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"notes", "purchase_order", "seller.name", "seller.registration", "terms"},
		},
		{
			name: "refuses a logo that is not an image",
			edit: func(d *gateway.Document) {
				d.Invoice.Seller.Logo = &gateway.Logo{Data: gateway.Blob{Bytes: []byte("\x89PNG\r\n\x1a\nnot really")}}
			},
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"seller.logo.data"},
		},
		{
			name:       "refuses a language it has no labels for",
			edit:       func(d *gateway.Document) { d.Invoice.Locale = "it" },
			wantKind:   gateway.KindUnprocessable,
			wantFields: []string{"locale"},
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
			doc := document(t, fixture(t, "one-line"))
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
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("got fields %q, want %q", fields, tt.wantFields)
			}
			if !strings.Contains(e.Error(), tt.wantInMsg) {
				t.Errorf("got error %q, want it to name %q", e.Error(), tt.wantInMsg)
			}
		})
	}
}

// TestEveryAcceptedLocalePrints keeps the gateway's list of accepted locales and
// the printed languages in step: an invoice validation accepts must print.
func TestEveryAcceptedLocalePrints(t *testing.T) {
	for _, tag := range gateway.Locales {
		if _, err := i18n.Lookup(tag); err != nil {
			t.Errorf("locale %q: accepted by validation, got %v from i18n", tag, err)
		}
	}
}

// TestCIDToGIDMapCoversEveryCharacter checks the embedded fonts' CIDToGIDMap streams,
// which stop at the highest character a document uses: every character printed on
// the page must map to a real glyph (not glyph 0, .notdef) in at least one font.
func TestCIDToGIDMapCoversEveryCharacter(t *testing.T) {
	r := newRenderer(t)
	for _, name := range []string{"unicode-names", "locale-fr", "bhd"} {
		t.Run(name, func(t *testing.T) {
			pdf := mustRender(t, r, document(t, fixture(t, name)))
			maps := cidToGIDMaps(t, pdf)
			if len(maps) == 0 {
				t.Fatal("got no CIDToGIDMap stream, want one per embedded font")
			}
			printed := map[rune]bool{}
			for _, page := range pdftest.Pages(t, pdf) {
				for _, c := range page {
					printed[c] = !unicode.IsSpace(c)
				}
			}
			for c, check := range printed {
				if check && !slices.ContainsFunc(maps, func(m []byte) bool {
					return 2*int(c)+1 < len(m) && (m[2*c] != 0 || m[2*c+1] != 0)
				}) {
					t.Errorf("got %q (U+%04X) printed but mapped to no glyph in any font", c, c)
				}
			}
		})
	}
}

// cidToGIDMaps returns the decompressed CIDToGIDMap stream of every font in pdf.
func cidToGIDMaps(t *testing.T, pdf []byte) [][]byte {
	t.Helper()
	var maps [][]byte
	for _, ref := range regexp.MustCompile(`/CIDToGIDMap (\d+) 0 R`).FindAllSubmatch(pdf, -1) {
		obj := regexp.MustCompile(`(?s)\n` + string(ref[1]) + ` 0 obj\n<</Length (\d+)/Filter /FlateDecode>>\nstream\n`).FindSubmatchIndex(pdf)
		if obj == nil {
			t.Fatalf("got /CIDToGIDMap %s 0 R but no such stream object", ref[1])
		}
		n, _ := strconv.Atoi(string(pdf[obj[2]:obj[3]]))
		zr, err := zlib.NewReader(bytes.NewReader(pdf[obj[1] : obj[1]+n]))
		if err != nil {
			t.Fatalf("CIDToGIDMap object %s: %v", ref[1], err)
		}
		m, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("CIDToGIDMap object %s: %v", ref[1], err)
		}
		maps = append(maps, m)
	}
	return maps
}
