package gateway_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
)

// pngHeader is enough of a PNG for content sniffing.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestTotalsWithDiscountsChargesAndPayments(t *testing.T) {
	tests := []struct {
		name string
		edit func(*gateway.Invoice)
		want gateway.Totals
	}{
		{"takes a line discount off before tax",
			func(i *gateway.Invoice) { i.Lines[0].DiscountPercent = "10" },
			gateway.Totals{Lines: []string{"53.97"}, LineDiscounts: []string{"6.00"}, Subtotal: "53.97", Allowances: "0.00", Charges: "0.00",
				Tax: "10.25", Total: "64.22", AmountPaid: "0.00", AmountDue: "64.22"}},
		{"taxes a document discount and a charge at their own rates",
			func(i *gateway.Invoice) {
				i.Adjustments = []gateway.Adjustment{
					{Kind: gateway.AdjustmentDiscount, Reason: "Loyalty", Amount: "9.97", TaxRate: "19"},
					{Kind: gateway.AdjustmentCharge, Reason: "Freight", Amount: "10.00", TaxRate: "7"},
				}
			},
			gateway.Totals{Lines: []string{"59.97"}, LineDiscounts: []string{"0.00"}, Subtotal: "59.97", Allowances: "9.97", Charges: "10.00",
				Tax: "10.20", Total: "70.20", AmountPaid: "0.00", AmountDue: "70.20"}},
		{"subtracts what was already paid",
			func(i *gateway.Invoice) { i.AmountPaid = "21.36" },
			gateway.Totals{Lines: []string{"59.97"}, LineDiscounts: []string{"0.00"}, Subtotal: "59.97", Allowances: "0.00", Charges: "0.00",
				Tax: "11.39", Total: "71.36", AmountPaid: "21.36", AmountDue: "50.00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mustDecode(t, example)
			tc.edit(inv)
			got, err := inv.Validate()
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got.TaxRates = nil
			if strings.Join(got.Lines, ",") != strings.Join(tc.want.Lines, ",") ||
				strings.Join(got.LineDiscounts, ",") != strings.Join(tc.want.LineDiscounts, ",") ||
				got.Subtotal != tc.want.Subtotal || got.Allowances != tc.want.Allowances || got.Charges != tc.want.Charges ||
				got.Tax != tc.want.Tax || got.Total != tc.want.Total || got.AmountPaid != tc.want.AmountPaid || got.AmountDue != tc.want.AmountDue {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTaxBreakdownPerCategoryAndRate(t *testing.T) {
	inv := mustDecode(t, example)
	inv.Lines = append(inv.Lines,
		gateway.Line{Description: "Book", Quantity: "1", UnitPrice: "10.00", TaxRate: "7"},
		gateway.Line{Description: "Export", Quantity: "1", UnitPrice: "5.00", TaxRate: "0", TaxCategory: "G"},
		gateway.Line{Description: "Service", Quantity: "1", UnitPrice: "5.00", TaxRate: "0"})
	got, err := inv.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.TaxAmount{
		{Category: "S", Rate: "19", Taxable: "59.97", Tax: "11.39"},
		{Category: "S", Rate: "7", Taxable: "10.00", Tax: "0.70"},
		{Category: "G", Rate: "0", Taxable: "5.00", Tax: "0.00"},
		{Category: "Z", Rate: "0", Taxable: "5.00", Tax: "0.00"},
	}
	if len(got.TaxRates) != len(want) {
		t.Fatalf("breakdown %+v, want %+v", got.TaxRates, want)
	}
	for i := range want {
		if got.TaxRates[i] != want[i] {
			t.Errorf("breakdown[%d] = %+v, want %+v", i, got.TaxRates[i], want[i])
		}
	}
}

func TestValidateDefaultsAndDerives(t *testing.T) {
	inv := mustDecode(t, strings.Replace(example, `"due_date": "2026-12-23",`, `"payment_terms": {"text": "Net 14", "net_days": 14},`, 1))
	if _, err := inv.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := inv.DueDate.Format("2006-01-02"); got != "2026-12-07" {
		t.Errorf("derived due date = %s, want 2026-12-07", got)
	}
	if inv.Locale != "en" || inv.Lines[0].TaxCategory != "S" {
		t.Errorf("defaults: locale %q, category %q", inv.Locale, inv.Lines[0].TaxCategory)
	}
}

func TestValidateAcceptsTheFullModel(t *testing.T) {
	inv := mustDecode(t, example)
	inv.Locale = "de"
	inv.PurchaseOrder, inv.CustomerReference = "PO-7781", "Kostenstelle 12"
	inv.Seller.Registration, inv.Seller.Phone, inv.Seller.Website = "Amtsgericht Berlin HRB 1", "+49 30 1", "https://acme.test"
	inv.Seller.Logo = &gateway.Logo{Data: gateway.Blob{Bytes: pngHeader}}
	inv.Customer.CC = []gateway.Contact{{Name: "AP", Email: "ap@globex.test"}, {Email: "cfo@globex.test"}}
	inv.Payment = &gateway.Payment{AccountNumber: "000123456789", RoutingNumber: "021000021", BankName: "Chase", Reference: "X", Link: "https://pay.acme.test/x"}
	inv.Attachments = []gateway.AttachmentInput{{Filename: "delivery-note.pdf", Data: gateway.Blob{Bytes: []byte("%PDF-1.4\n%...")}}}
	inv.Totals = &gateway.ClientTotals{Subtotal: "59.97", Tax: "11.39", Total: "71.360", AmountDue: "71.36"}
	if _, err := inv.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRejectsFullModelFields(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*gateway.Invoice)
		field string
		code  string
	}{
		{"an unsupported locale", func(i *gateway.Invoice) { i.Locale = "xx" }, "locale", "unsupported_locale"},
		{"a discount over 100 percent", func(i *gateway.Invoice) { i.Lines[0].DiscountPercent = "101" }, "lines[0].discount_percent", "too_large"},
		{"an unknown tax category", func(i *gateway.Invoice) { i.Lines[0].TaxCategory = "X" }, "lines[0].tax_category", "unknown_tax_category"},
		{"a rate on an exempt line", func(i *gateway.Invoice) { i.Lines[0].TaxCategory = "E" }, "lines[0].tax_rate", "rate_not_allowed"},
		{"a bad adjustment kind", func(i *gateway.Invoice) {
			i.Adjustments = []gateway.Adjustment{{Kind: "rebate", Reason: "x", Amount: "1.00", TaxRate: "19"}}
		}, "adjustments[0].kind", "invalid_kind"},
		{"a discount larger than the lines", func(i *gateway.Invoice) {
			i.Adjustments = []gateway.Adjustment{{Kind: gateway.AdjustmentDiscount, Reason: "x", Amount: "100.00", TaxRate: "19"}}
		}, "adjustments", "exceeds_lines"},
		{"a payment larger than the total", func(i *gateway.Invoice) { i.AmountPaid = "100.00" }, "amount_paid", "exceeds_total"},
		{"client totals that differ", func(i *gateway.Invoice) { i.Totals = &gateway.ClientTotals{Total: "71.35"} }, "totals.total", "mismatch"},
		{"an IBAN with a wrong check sum", func(i *gateway.Invoice) { i.Payment.IBAN = "DE89370400440532013001" }, "payment.iban", "invalid_iban"},
		{"a malformed BIC", func(i *gateway.Invoice) { i.Payment.BIC = "COBA" }, "payment.bic", "invalid_bic"},
		{"a routing number with a wrong check digit", func(i *gateway.Invoice) {
			i.Payment.AccountNumber, i.Payment.RoutingNumber = "12345678", "021000022"
		}, "payment.routing_number", "invalid_routing_number"},
		{"an http payment link", func(i *gateway.Invoice) { i.Payment.Link = "http://pay.acme.test" }, "payment.link", "invalid_url"},
		{"a javascript payment link", func(i *gateway.Invoice) { i.Payment.Link = "javascript:alert(1)" }, "payment.link", "invalid_url"},
		{"a bad cc address", func(i *gateway.Invoice) { i.Customer.CC = []gateway.Contact{{Email: "a@b"}} }, "customer.cc[0].email", "invalid_email"},
		{"the contact again as cc", func(i *gateway.Invoice) { i.Customer.CC = []gateway.Contact{{Email: "Jane.Doe@globex.test"}} }, "customer.cc[0].email", "duplicate"},
		{"CR/LF in a cc name", func(i *gateway.Invoice) { i.Customer.CC = []gateway.Contact{{Name: "A\r\nB", Email: "ap@globex.test"}} }, "customer.cc[0].name", "control_character"},
		{"an executable attachment", func(i *gateway.Invoice) {
			i.Attachments = []gateway.AttachmentInput{{Filename: "note.pdf", Data: gateway.Blob{Bytes: []byte("MZ\x90\x00\x03")}}}
		}, "attachments[0].data", "unsupported_type"},
		{"a path in an attachment name", func(i *gateway.Invoice) {
			i.Attachments = []gateway.AttachmentInput{{Filename: "../etc/passwd", Data: gateway.Blob{Bytes: []byte("%PDF-1.4")}}}
		}, "attachments[0].filename", "invalid_filename"},
		{"a logo that is not an image", func(i *gateway.Invoice) { i.Seller.Logo = &gateway.Logo{Data: gateway.Blob{Bytes: []byte("hello")}} }, "seller.logo.data", "unsupported_type"},
		{"net days beyond a year", func(i *gateway.Invoice) { n := 1000; i.PaymentTerms = &gateway.PaymentTerms{NetDays: &n} }, "payment_terms.net_days", "out_of_range"},
		{"an absurd total", func(i *gateway.Invoice) { i.Lines[0].Quantity = "1000000000"; i.Lines[0].UnitPrice = "999999999.99" }, "lines", "total_too_large"},
	}
	for _, tc := range tests {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			inv := mustDecode(t, example)
			tc.edit(inv)
			_, err := inv.Validate()
			if got := fieldsOf(err)[tc.field]; got != tc.code {
				t.Errorf("field %s code = %q, want %q (all: %v)", tc.field, got, tc.code, fieldsOf(err))
			}
		})
	}
}

func TestDecodeRejectsBadBase64ByField(t *testing.T) {
	body := strings.Replace(example, `"terms":`, `"attachments": [{"filename": "a.pdf", "data": "%%%"}], "terms":`, 1)
	inv := mustDecode(t, body)
	_, err := inv.Validate()
	if got := fieldsOf(err)["attachments[0].data"]; got != "invalid_base64" {
		t.Errorf("code = %q (all %v)", got, fieldsOf(err))
	}
	good := strings.Replace(example, `"terms":`, `"attachments": [{"filename": "a.png", "data": "`+base64.StdEncoding.EncodeToString(pngHeader)+`"}], "terms":`, 1)
	inv = mustDecode(t, good)
	if _, err := inv.Validate(); err != nil {
		t.Errorf("valid attachment refused: %v", err)
	}
	if ct := inv.Attachments[0].ContentType(); ct != "image/png" {
		t.Errorf("sniffed %q", ct)
	}
}
