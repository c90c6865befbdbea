package render_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/phpdave11/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/invoicegw/invoicegw/gateway"
)

// The issue's targets on a 2-core machine: a 1-page invoice in <= 5 ms and <= 4x
// BenchmarkGofpdfBaseline, >= 250 invoices/s with RenderInvoice in parallel.
//
// Besides wall time, each benchmark reports the process CPU time per operation
// (cpu-ms/op): on a machine shared with other work, wall time measures the
// neighbours as much as the code. For the parallel runs, 2000/cpu-ms/op is what
// two otherwise idle cores would sustain (cpu-invoices/s-on-2-cores).

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f b.N times (f calls b.Loop or b.RunParallel) and reports its CPU
// time per operation.
func measure(b *testing.B, f func()) float64 {
	b.ReportAllocs()
	start := cpuTime(b)
	f()
	perOp := float64(cpuTime(b)-start) / float64(time.Millisecond) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ms/op")
	return perOp
}

func BenchmarkRenderInvoice(b *testing.B) {
	r := newRenderer(b)
	for _, bc := range []struct {
		name string
		doc  gateway.Document
	}{
		{"1-page-20-lines", document(b, withLines(fixture(b, "one-line"), 20))},
		{"10-pages-420-lines", document(b, withLines(fixture(b, "one-line"), 420))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			measure(b, func() {
				for b.Loop() {
					if _, err := r.RenderInvoice(bc.doc); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			perOp := measure(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := r.RenderInvoice(bc.doc); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invoices/s")
			b.ReportMetric(2000/perOp, "cpu-invoices/s-on-2-cores")
		})
	}
}

// BenchmarkGofpdfBaseline draws the page of BenchmarkRenderInvoice/1-page-20-lines
// by hand with gofpdf (the same fonts, texts, table and compression), without
// maroto or our layout: the floor that the renderer is measured against.
func BenchmarkGofpdfBaseline(b *testing.B) {
	doc := document(b, withLines(fixture(b, "one-line"), 20))
	measure(b, func() {
		for b.Loop() {
			if err := gofpdfBaseline(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func gofpdfBaseline(doc gateway.Document) error {
	inv, t := doc.Invoice, doc.Totals
	pdf := gofpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(true)
	pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 20)
	pdf.SetTitle("Invoice "+inv.Number, true)
	pdf.SetAuthor(inv.Seller.Name, true)
	pdf.SetSubject(inv.Number, true)
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-15)
		pdf.SetFont("go", "", 7.5)
		pdf.CellFormat(0, 4, fmt.Sprintf("Page %d of {nb}", pdf.PageNo()), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("go", "B", 20)
	pdf.CellFormat(90, 9, "Invoice", "", 0, "L", false, 0, "")
	pdf.SetFont("go", "B", 12)
	pdf.CellFormat(90, 9, inv.Number, "", 1, "R", false, 0, "")
	line := func(w float64, s, style, align string, ln int) {
		pdf.SetFont("go", style, 9)
		pdf.CellFormat(w, 4.5, s, "", ln, align, false, 0, "")
	}
	seller := []string{"From", inv.Seller.Name, inv.Seller.Address.Line1, inv.Seller.Address.PostalCode + " " + inv.Seller.Address.City,
		inv.Seller.Address.Country, "Tax ID: " + inv.Seller.TaxID, "E-mail: " + inv.Seller.Email}
	meta := [][2]string{{"", ""}, {"Invoice number", inv.Number}, {"Issue date", inv.IssueDate.Format("2006-01-02")},
		{"Due date", inv.DueDate.Format("2006-01-02")}, {"Currency", inv.Currency}, {"Customer ID", inv.Customer.ID}, {"", ""}}
	for i, s := range seller {
		line(90, s, "", "L", 0)
		line(37, meta[i][0], "", "L", 0)
		line(53, meta[i][1], "", "R", 1)
	}
	pdf.Ln(6)
	for _, s := range []string{"Bill to", inv.Customer.Name, "Attn: " + inv.Customer.Contact.Name, inv.Customer.Address.Line1,
		inv.Customer.Address.PostalCode + " " + inv.Customer.Address.City, inv.Customer.Address.Country} {
		line(180, s, "", "L", 1)
	}
	pdf.Ln(8)
	widths := []float64{67.5, 15, 15, 30, 22.5, 30}
	pdf.SetFillColor(225, 225, 225)
	pdf.SetFont("go", "B", 7.5)
	for i, h := range []string{"Description", "Qty", "Unit", "Unit price (EUR)", "Tax rate", "Amount (EUR)"} {
		pdf.CellFormat(widths[i], 5, h, "", 0, "L", true, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetFont("go", "", 9)
	for i, l := range inv.Lines {
		for j, s := range []string{l.Description, string(l.Quantity), l.Unit, string(l.UnitPrice), string(l.TaxRate) + "%", t.Lines[i]} {
			pdf.CellFormat(widths[j], 5, s, "B", 0, "R", false, 0, "")
		}
		pdf.Ln(-1)
	}
	pdf.Ln(3)
	sums := [][2]string{{"Subtotal", t.Subtotal}}
	for _, r := range t.TaxRates {
		sums = append(sums, [2]string{"Tax " + r.Rate + "% on EUR " + r.Taxable, r.Tax})
	}
	sums = append(sums, [2]string{"Tax", t.Tax}, [2]string{"Total", t.Total}, [2]string{"Amount due", t.AmountDue})
	for _, s := range sums {
		pdf.CellFormat(90, 5, "", "", 0, "L", false, 0, "")
		pdf.CellFormat(52.5, 5, s[0], "", 0, "L", false, 0, "")
		pdf.CellFormat(37.5, 5, "EUR "+s[1], "", 1, "R", false, 0, "")
	}
	pdf.Ln(5)
	pdf.SetFont("go", "B", 10)
	pdf.CellFormat(180, 6, "Payment", "B", 1, "L", false, 0, "")
	for _, p := range [][2]string{{"IBAN", inv.Payment.IBAN}, {"BIC", inv.Payment.BIC}, {"Reference", inv.Payment.Reference}} {
		line(30, p[0], "", "L", 0)
		line(150, p[1], "B", "L", 1)
	}
	pdf.Ln(5)
	pdf.SetFont("go", "B", 10)
	pdf.CellFormat(180, 6, "Terms and conditions", "B", 1, "L", false, 0, "")
	pdf.SetFont("go", "", 8)
	pdf.MultiCell(180, 3.5, doc.Terms, "", "L", false)
	pdf.SetFont("go", "", 6)
	pdf.CellFormat(180, 3, "Terms SHA-256: "+doc.TermsSHA256, "", 1, "L", false, 0, "")
	var out discard
	return pdf.Output(&out)
}

type discard struct{ n int }

func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
