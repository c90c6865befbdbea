package render

import (
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/invoicegw/invoicegw/gateway"
)

// epcPayload is the text of the EPC QR code ("GiroCode", EPC069-12 version 002)
// for a SEPA credit transfer of the amount due: service tag, version, character
// set (1 = UTF-8), identification, BIC, beneficiary name, IBAN, amount, purpose,
// structured reference, unstructured remittance text. There is none unless the
// invoice is in euro, names an IBAN, and has an amount due the standard allows.
func epcPayload(inv gateway.Invoice, t gateway.Totals) (string, bool) {
	p := inv.Payment
	if p == nil || p.IBAN == "" || inv.Currency != "EUR" {
		return "", false
	}
	due, err := decimal.NewFromString(t.AmountDue)
	if err != nil || due.LessThan(decimal.New(1, -2)) || due.GreaterThan(decimal.RequireFromString("999999999.99")) {
		return "", false
	}
	ref := p.Reference
	if ref == "" {
		ref = inv.Number
	}
	structured, text := "", truncate(ref, 140)
	if isCreditorReference(ref) {
		structured, text = ref, ""
	}
	lines := []string{
		"BCD", "002", "1", "SCT",
		strings.ReplaceAll(p.BIC, " ", ""),
		truncate(inv.Seller.Name, 70),
		strings.ReplaceAll(p.IBAN, " ", ""),
		"EUR" + due.StringFixed(2),
		"", // purpose code
		structured,
		text,
	}
	return strings.Join(lines, "\n"), true
}

// isCreditorReference reports whether s is an ISO 11649 creditor reference
// ("RF18 5390 0754 7034"), which the EPC code carries in its structured field.
func isCreditorReference(s string) bool {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) < 5 || len(s) > 25 || !strings.HasPrefix(s, "RF") {
		return false
	}
	rearranged := s[4:] + s[:4]
	rem := 0
	for _, c := range rearranged {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// truncate cuts s to at most n characters, never inside a UTF-8 sequence.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// formatAmount writes an amount the client sent with exactly the currency's
// decimals ("5" -> "5.00" in EUR), as the computed totals are written.
func formatAmount(cur gateway.Currency, amount string) string {
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return amount
	}
	return cur.Format(d)
}
