package render_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/i18n"
	"github.com/invoicegw/invoicegw/render/pdftest"
)

// words mixes scripts and lengths the way real invoices do.
var words = []string{
	"widget", "Consulting", "hours", "licence", "Ærøskøbing", "Købmand", "Zoë", "Łukasiewicz", "Müller",
	"Ελληνική", "Εταιρεία", "ООО", "Ромашка", "доставка", "façade", "niño", "€", "50%", "(net)", "a", "I",
	"payment", "shall", "without", "set-off", "deduction", "interest", "§", "12.5", "—", "“quoted”",
}

func randomText(rnd *rand.Rand, minWords, maxWords int, newlines bool) string {
	n := minWords + rnd.IntN(maxWords-minWords+1)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			if newlines && rnd.IntN(25) == 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(words[rnd.IntN(len(words))])
	}
	return b.String()
}

func randomAmount(rnd *rand.Rand, max int, scale int) string {
	units := rnd.IntN(max) + 1
	if scale == 0 {
		return fmt.Sprint(units)
	}
	frac := rnd.IntN(pow10(scale))
	return fmt.Sprintf("%d.%0*d", units, scale, frac)
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// randomInvoice is a valid invoice with random lines, discounts, currency,
// language and terms, starting from the one-line example.
func randomInvoice(t *testing.T, rnd *rand.Rand) gateway.Invoice {
	inv := fixture(t, "one-line")
	inv.Locale = i18n.Locales()[rnd.IntN(len(i18n.Locales()))]
	inv.Currency = []string{"EUR", "USD", "JPY", "BHD", "GBP", "CHF"}[rnd.IntN(6)]
	cur, err := gateway.LookupCurrency(inv.Currency)
	if err != nil {
		t.Fatal(err)
	}
	scale := int(cur.Scale)
	inv.Lines = make([]gateway.Line, 1+rnd.IntN(30))
	for i := range inv.Lines {
		rate := []string{"0", "5.5", "7", "19", "20"}[rnd.IntN(5)]
		l := gateway.Line{
			Description: randomText(rnd, 1, 8, false),
			Quantity:    gateway.DecimalText(randomAmount(rnd, 999, rnd.IntN(3))),
			Unit:        []string{"", "pcs", "h", "kg"}[rnd.IntN(4)],
			UnitPrice:   gateway.DecimalText(randomAmount(rnd, 5000, scale)),
			TaxRate:     gateway.DecimalText(rate),
		}
		if rnd.IntN(3) == 0 {
			l.DiscountPercent = gateway.DecimalText(fmt.Sprint(rnd.IntN(50)))
		}
		inv.Lines[i] = l
	}
	inv.Adjustments = nil
	inv.AmountPaid = ""
	inv.Notes = randomText(rnd, 0, 30, true)
	inv.Terms = randomText(rnd, 1, 900, true)
	return inv
}

// TestRenderInvoiceAlwaysPrintsTermsAndAmountDue: for random valid invoices, the
// text a reader extracts always holds the full terms and the amount due.
func TestRenderInvoiceAlwaysPrintsTermsAndAmountDue(t *testing.T) {
	r := newRenderer(t)
	rnd := rand.New(rand.NewPCG(2026, 11))
	runs := 20
	if testing.Short() {
		runs = 5
	}
	for i := range runs {
		inv := randomInvoice(t, rnd)
		doc := document(t, inv)
		pdf, err := r.RenderInvoice(doc)
		if err != nil {
			t.Fatalf("run %d (%s, %s, %d lines): RenderInvoice: %v", i, inv.Locale, inv.Currency, len(inv.Lines), err)
		}
		got := read(t, doc, pdf)
		loc, _ := i18n.Lookup(inv.Locale)
		due := pdftest.Collapse(loc.T("invoice.amount_due") + " " + loc.Money(doc.Totals.AmountDue, inv.Currency))
		if !strings.Contains(got.body, due) {
			t.Errorf("run %d (%s, %s): got text without %q", i, inv.Locale, inv.Currency, due)
		}
		if terms := pdftest.Collapse(doc.Terms); !strings.Contains(got.body, terms) {
			t.Errorf("run %d (%s, %s, %d pages): got text without the full terms (%d characters)", i, inv.Locale, inv.Currency, len(got.pages), len(terms))
		}
	}
}

// FuzzRenderInvoice feeds request bodies through the gateway's decoding and
// validation into the renderer: whatever passes validation must print, or be
// refused with a KindUnprocessable error naming the field; never panic, never
// an internal error.
func FuzzRenderInvoice(f *testing.F) {
	for _, name := range fixtureNames(f) {
		if name == "multipage-200-lines" || name == "long-terms" {
			continue // slow seeds make slow fuzzing
		}
		f.Add(mustRead(f, name))
	}
	r := newRenderer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 32<<10 {
			return
		}
		inv, err := gateway.DecodeInvoice(body)
		if err != nil {
			return
		}
		totals, err := inv.Validate()
		if err != nil || len(inv.Lines) > 60 {
			return
		}
		terms := inv.Terms
		if strings.TrimSpace(terms) == "" {
			terms = "Tenant default terms."
		}
		doc := gateway.Document{InvoiceID: "inv_fuzz", Invoice: *inv, Totals: totals, Terms: terms, TermsSHA256: "00", TermsVersion: "v1"}
		pdf, err := r.RenderInvoice(doc)
		var e *gateway.Error
		switch {
		case err == nil:
			if !strings.HasPrefix(string(pdf), "%PDF-") {
				t.Fatalf("got %d bytes that are not a PDF", len(pdf))
			}
		case !errors.As(err, &e) || e.Kind != gateway.KindUnprocessable || len(e.Fields) == 0:
			t.Fatalf("got error %v, want a KindUnprocessable *gateway.Error naming fields", err)
		}
	})
}
