package gateway_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
)

// example is the invoice `make run` tells a new user to send.
var example = func() string {
	b, err := os.ReadFile("../deployments/local/example-invoice.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func mustDecode(t *testing.T, body string) *gateway.Invoice {
	t.Helper()
	inv, err := gateway.DecodeInvoice([]byte(body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return inv
}

func TestTotals(t *testing.T) {
	tests := []struct {
		name     string
		currency string
		lines    []gateway.Line
		want     gateway.Totals
	}{
		{"computes the example exactly", "EUR",
			[]gateway.Line{{Description: "Widget", Quantity: "3", UnitPrice: "19.99", TaxRate: "19"}},
			gateway.Totals{Lines: []string{"59.97"}, Subtotal: "59.97", Tax: "11.39", Total: "71.36", AmountDue: "71.36"}},
		{"rounds each line half-up to cents", "EUR",
			[]gateway.Line{{Description: "a", Quantity: "0.5", UnitPrice: "0.05", TaxRate: "0"}, {Description: "b", Quantity: "1.5", UnitPrice: "0.01", TaxRate: "0"}},
			gateway.Totals{Lines: []string{"0.03", "0.02"}, Subtotal: "0.05", Tax: "0.00", Total: "0.05", AmountDue: "0.05"}},
		{"taxes per rate on the rate's sum", "EUR",
			[]gateway.Line{
				{Description: "a", Quantity: "1", UnitPrice: "0.10", TaxRate: "19"},
				{Description: "b", Quantity: "1", UnitPrice: "0.10", TaxRate: "19"},
				{Description: "c", Quantity: "1", UnitPrice: "10.00", TaxRate: "7"}},
			gateway.Totals{Lines: []string{"0.10", "0.10", "10.00"}, Subtotal: "10.20", Tax: "0.74", Total: "10.94", AmountDue: "10.94"}},
		{"has no minor unit in JPY", "JPY",
			[]gateway.Line{{Description: "a", Quantity: "3", UnitPrice: "333", TaxRate: "10"}},
			gateway.Totals{Lines: []string{"999"}, Subtotal: "999", Tax: "100", Total: "1099", AmountDue: "1099"}},
		{"has three decimals in BHD", "BHD",
			[]gateway.Line{{Description: "a", Quantity: "2", UnitPrice: "1.255", TaxRate: "10"}},
			gateway.Totals{Lines: []string{"2.510"}, Subtotal: "2.510", Tax: "0.251", Total: "2.761", AmountDue: "2.761"}},
		{"never drifts like float64 would", "USD",
			[]gateway.Line{{Description: "a", Quantity: "3", UnitPrice: "0.10", TaxRate: "0"}},
			gateway.Totals{Lines: []string{"0.30"}, Subtotal: "0.30", Tax: "0.00", Total: "0.30", AmountDue: "0.30"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := mustDecode(t, example)
			inv.Currency, inv.Lines = tc.currency, tc.lines
			got, err := inv.Validate()
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if strings.Join(got.Lines, ",") != strings.Join(tc.want.Lines, ",") || got.Subtotal != tc.want.Subtotal ||
				got.Tax != tc.want.Tax || got.Total != tc.want.Total || got.AmountDue != tc.want.AmountDue {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func fieldsOf(err error) map[string]string {
	var ge *gateway.Error
	out := map[string]string{}
	if errors.As(err, &ge) {
		for _, f := range ge.Fields {
			out[f.Field] = f.Code
		}
	}
	return out
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*gateway.Invoice)
		field string
		code  string
	}{
		{"a negative quantity", func(i *gateway.Invoice) { i.Lines[0].Quantity = "-1" }, "lines[0].quantity", "negative"},
		{"a zero quantity", func(i *gateway.Invoice) { i.Lines[0].Quantity = "0" }, "lines[0].quantity", "zero"},
		{"an absurd quantity", func(i *gateway.Invoice) { i.Lines[0].Quantity = "99999999999" }, "lines[0].quantity", "too_large"},
		{"an exponent", func(i *gateway.Invoice) { i.Lines[0].UnitPrice = "1e3" }, "lines[0].unit_price", "not_a_decimal"},
		{"NaN", func(i *gateway.Invoice) { i.Lines[0].UnitPrice = "NaN" }, "lines[0].unit_price", "not_a_decimal"},
		{"a JSON boolean for an amount", func(i *gateway.Invoice) { i.Lines[0].UnitPrice = "true" }, "lines[0].unit_price", "not_a_decimal"},
		{"more decimals than the currency has", func(i *gateway.Invoice) { i.Lines[0].UnitPrice = "19.999" }, "lines[0].unit_price", "too_many_decimals"},
		{"cents on a JPY price", func(i *gateway.Invoice) { i.Currency = "JPY" }, "lines[0].unit_price", "too_many_decimals"},
		{"a tax rate over 100", func(i *gateway.Invoice) { i.Lines[0].TaxRate = "101" }, "lines[0].tax_rate", "too_large"},
		{"an unknown currency", func(i *gateway.Invoice) { i.Currency = "ABC" }, "currency", "unknown_currency"},
		{"a lower-case currency", func(i *gateway.Invoice) { i.Currency = "eur" }, "currency", "unknown_currency"},
		{"CR/LF in the contact name", func(i *gateway.Invoice) { i.Customer.Contact.Name = "Jane\r\nBcc: x@evil.test" }, "customer.contact.name", "control_character"},
		{"a NUL in the seller name", func(i *gateway.Invoice) { i.Seller.Name = "Acme\x00" }, "seller.name", "control_character"},
		{"a display name in the e-mail", func(i *gateway.Invoice) { i.Customer.Contact.Email = "Jane <jane@globex.test>" }, "customer.contact.email", "invalid_email"},
		{"an e-mail without a dotted domain", func(i *gateway.Invoice) { i.Customer.Contact.Email = "jane@localhost" }, "customer.contact.email", "invalid_email"},
		{"an e-mail with a newline", func(i *gateway.Invoice) { i.Customer.Contact.Email = "jane@globex.test\nBcc: x@y.z" }, "customer.contact.email", "invalid_email"},
		{"a due date before the issue date", func(i *gateway.Invoice) { i.DueDate = i.IssueDate; i.DueDate.Time = i.IssueDate.AddDate(0, 0, -1) }, "due_date", "before_issue_date"},
		{"a missing contact", func(i *gateway.Invoice) { i.Customer.Contact = gateway.Contact{} }, "customer.contact.email", "required"},
		{"no lines", func(i *gateway.Invoice) { i.Lines = nil }, "lines", "required"},
		{"a bad country", func(i *gateway.Invoice) { i.Seller.Address.Country = "Germany" }, "seller.address.country", "invalid_country"},
	}
	for _, tc := range tests {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			inv := mustDecode(t, example)
			tc.edit(inv)
			_, err := inv.Validate()
			if gateway.ErrorKind(err) != gateway.KindInvalid {
				t.Fatalf("err = %v, want KindInvalid", err)
			}
			if got := fieldsOf(err)[tc.field]; got != tc.code {
				t.Errorf("field %s code = %q, want %q (all: %v)", tc.field, got, tc.code, fieldsOf(err))
			}
		})
	}
}

func TestValidateReportsEveryFieldAtOnce(t *testing.T) {
	inv := mustDecode(t, example)
	inv.Currency = "XXY"
	inv.Customer.Contact.Email = "nope"
	inv.Lines[0].Quantity = "-2"
	inv.Seller.Name = ""
	_, err := inv.Validate()
	got := fieldsOf(err)
	for _, f := range []string{"currency", "customer.contact.email", "lines[0].quantity", "seller.name"} {
		if _, ok := got[f]; !ok {
			t.Errorf("missing %s in %v", f, got)
		}
	}
}

func TestDecodeInvoice(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		kind  gateway.Kind
		field string
		msg   string
	}{
		{"gives the position of a syntax error", "{\n  \"number\": \"X\",\n}", gateway.KindMalformed, "", "line 3"},
		{"refuses an empty body", "", gateway.KindMalformed, "", "empty"},
		{"refuses a truncated body", `{"number": "X"`, gateway.KindMalformed, "", "ends too early"},
		{"refuses an array", `[]`, gateway.KindMalformed, "", "JSON object"},
		{"refuses trailing data", example + `{}`, gateway.KindMalformed, "", "exactly one"},
		{"names an unknown field", `{"numbr": "X"}`, gateway.KindInvalid, "numbr", ""},
		{"names a field of the wrong type", `{"number": 42}`, gateway.KindInvalid, "number", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gateway.DecodeInvoice([]byte(tc.body))
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != tc.kind {
				t.Fatalf("err = %v, want kind %s", err, tc.kind)
			}
			if tc.field != "" && fieldsOf(err)[tc.field] == "" {
				t.Errorf("fields = %v, want %s", fieldsOf(err), tc.field)
			}
			if !strings.Contains(ge.Message, tc.msg) {
				t.Errorf("message = %q, want it to contain %q", ge.Message, tc.msg)
			}
		})
	}
	t.Run("reports a malformed date as a field, with the others", func(t *testing.T) {
		inv := mustDecode(t, strings.Replace(example, `"2026-12-23"`, `"2026-13-45"`, 1))
		_, err := inv.Validate()
		if fieldsOf(err)["due_date"] != "invalid_date" {
			t.Errorf("fields = %v", fieldsOf(err))
		}
	})
	t.Run("keeps a JSON number amount exact", func(t *testing.T) {
		inv := mustDecode(t, strings.Replace(example, `"unit_price": "19.99"`, `"unit_price": 19.99`, 1))
		got, err := inv.Validate()
		if err != nil || got.Total != "71.36" {
			t.Errorf("total = %q, %v", got.Total, err)
		}
	})
}

func FuzzDecodeAndValidate(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(`{"lines":[{"quantity":1e400,"unit_price":"-0","tax_rate":{}}]}`))
	f.Add([]byte(`{"issue_date":"2026-02-30","currency":"BHD"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := gateway.DecodeInvoice(body)
		if err != nil {
			if k := gateway.ErrorKind(err); k != gateway.KindMalformed && k != gateway.KindInvalid {
				t.Fatalf("decode error kind %s: %v", k, err)
			}
			return
		}
		totals, err := inv.Validate()
		if err != nil {
			if gateway.ErrorKind(err) != gateway.KindInvalid {
				t.Fatalf("validate error kind %s", gateway.ErrorKind(err))
			}
			return
		}
		// A valid invoice always round-trips through JSON to the same totals.
		b, err := json.Marshal(inv)
		if err != nil {
			t.Fatal(err)
		}
		again, err := gateway.DecodeInvoice(b)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		totals2, err := again.Validate()
		if err != nil || totals2.Total != totals.Total {
			t.Fatalf("round trip total %q -> %q (%v)", totals.Total, totals2.Total, err)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	key, hash, err := gateway.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "igw_") || len(key) != 50 {
		t.Errorf("key %q: want igw_ and 50 characters", key)
	}
	got, err := gateway.HashAPIKey(key)
	if err != nil || string(got) != string(hash) {
		t.Errorf("HashAPIKey(valid) = %x, %v", got, err)
	}
	flipped := []byte(key)
	flipped[10] ^= 1
	for _, bad := range []string{"", "igw_", key[:49], string(flipped), "sk_" + key[4:], key + "x", strings.Replace(key, key[5:6], "-", 1)} {
		if _, err := gateway.HashAPIKey(bad); gateway.ErrorKind(err) != gateway.KindUnauthorized {
			t.Errorf("HashAPIKey(%q) err = %v, want unauthorized", bad, err)
		}
	}
}

func TestIDs(t *testing.T) {
	a, b := gateway.NewID("inv"), gateway.NewID("inv")
	if a == b || !gateway.ValidID("inv", a) || gateway.ValidID("dlv", a) || gateway.ValidID("inv", "inv_x") {
		t.Errorf("ids %q %q", a, b)
	}
	if a > b {
		t.Errorf("ids are not time-ordered: %q > %q", a, b)
	}
}

func TestEventLevels(t *testing.T) {
	want := map[gateway.EventType]int{
		gateway.EventAccepted: 0, gateway.EventRendered: 1, gateway.EventArchived: 1, gateway.EventSent: 2,
		gateway.EventDelivered: 3, gateway.EventOpened: 4, gateway.EventClicked: 5, gateway.EventViewed: 5,
		gateway.EventDownloaded: 5, gateway.EventAcknowledged: 6, gateway.EventBounced: gateway.NoLevel,
		gateway.EventFailed: gateway.NoLevel, gateway.EventUnknownOutcome: gateway.NoLevel,
	}
	for typ, lvl := range want {
		if got := typ.Level(); got != lvl {
			t.Errorf("%s level = %d, want %d", typ, got, lvl)
		}
	}
}
