package render_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/render/pdftest"
)

func date(s string) gateway.Date {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return gateway.Date{Time: t}
}

func exampleStatement(t testing.TB, locale string) gateway.Statement {
	inv := fixture(t, "one-line")
	return gateway.Statement{
		Date: date("2026-12-31"), Currency: "EUR", Locale: locale,
		Seller: inv.Seller, Customer: inv.Customer,
		Invoices: []gateway.StatementInvoice{
			{Number: "INV-2026-0101", IssueDate: date("2026-12-01"), DueDate: date("2027-01-15"), Total: "1200.00"},
			{Number: "INV-2026-0088", IssueDate: date("2026-11-01"), DueDate: date("2026-12-01"), Total: "500.00", Paid: "200.00"},
			{Number: "INV-2026-0071", IssueDate: date("2026-09-15"), DueDate: date("2026-10-15"), Total: "75.50"},
			{Number: "INV-2026-0007", IssueDate: date("2026-06-01"), DueDate: date("2026-07-01"), Total: "19.99"},
		},
		Payments: []gateway.StatementPayment{{Date: date("2026-12-20"), Reference: "SEPA 4711", Amount: "200.00"}},
	}
}

func TestRenderStatement(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name   string
		locale string
		want   []string
	}{
		{"prints an English statement with aging", "en", []string{
			"Statement 31 Dec 2026", "Acme Supplies GmbH", "Globex Ltd", "Attn: Jane Doe",
			"INV-2026-0101 1 Dec 2026 15 Jan 2027 1,200.00 0.00 1,200.00",
			"INV-2026-0088 1 Nov 2026 1 Dec 2026 30 500.00 200.00 300.00",
			"INV-2026-0071 15 Sep 2026 15 Oct 2026 77 75.50 0.00 75.50",
			"INV-2026-0007 1 Jun 2026 1 Jul 2026 183 19.99 0.00 19.99",
			"Payment SEPA 4711 200.00",
			"Current 1-30 days 31-60 days 61-90 days Over 90 days Balance due",
			"1,200.00 300.00 0.00 75.50 19.99 1,595.49",
		}},
		{"prints a German statement", "de", []string{
			"Kontoauszug 31.12.2026", "Offene Rechnungen", "INV-2026-0088 01.11.2026 01.12.2026 30 500,00 200,00 300,00", "Offener Saldo", "1.595,49",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := exampleStatement(t, tt.locale)
			pdf, err := r.RenderStatement(st)
			if err != nil {
				t.Fatalf("RenderStatement: %v", err)
			}
			pdftest.Check(t, pdf)
			again, err := r.RenderStatement(st)
			if err != nil || !bytes.Equal(pdf, again) {
				t.Errorf("got a second render that differs (error %v), want identical bytes", err)
			}
			pages := pdftest.Pages(t, pdf)
			text := pdftest.Collapse(strings.Join(pages, " "))
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("got text without %q; text: %s", w, text)
				}
			}
			golden(t, filepath.Join("testdata", "golden", "statement-"+tt.locale+".txt"), []byte(strings.Join(pageLines(pages), "\n")+"\n"))
		})
	}
}

func TestRenderStatementRejectsInvalid(t *testing.T) {
	st := exampleStatement(t, "en")
	st.Invoices[1].Paid = "600.00"
	_, err := newRenderer(t).RenderStatement(st)
	var e *gateway.Error
	if !errors.As(err, &e) || e.Kind != gateway.KindInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "invoices[1].paid" {
		t.Errorf("got %v, want KindInvalid naming invoices[1].paid", err)
	}
}
