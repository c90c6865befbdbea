package gateway

import (
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// More limits; see also the constants in invoice.go.
const (
	MaxCC              = 10
	MaxAdjustments     = 50
	MaxAttachments     = 10
	MaxAttachmentBytes = 5 << 20
	MaxLogoBytes       = 512 << 10
	maxNetDays         = 366
	maxPercentDecimals = 2
)

// maxTotal bounds any computed amount: beyond it an invoice is a typo, not a sale.
var maxTotal = decimal.New(1, 15)

// taxCategories are the EN 16931 VAT category codes (UNCL5305 subset). Only S, L
// and M carry a positive rate; the others are zero-rated by definition.
var taxCategories = map[string]bool{"S": true, "Z": false, "E": false, "AE": false, "K": false, "G": false, "O": false, "L": true, "M": true}

// attachmentTypes are the proof-of-delivery formats accepted, as sniffed.
var attachmentTypes = []string{"application/pdf", "image/png", "image/jpeg"}

// Validate checks every field and, when all are good, fills the defaults (locale,
// tax categories, a due date derived from payment_terms.net_days) and computes the
// totals. All problems are reported at once in a KindInvalid *Error. A missing terms
// text is not checked here: terms may come from the customer's or tenant's defaults.
func (inv *Invoice) Validate() (Totals, error) {
	var p Problems
	requireText(&p, "number", inv.Number, 64)
	checkDate(&p, "issue_date", inv.IssueDate)
	inv.deriveDueDate(&p)
	if !inv.IssueDate.IsZero() && !inv.DueDate.IsZero() && inv.DueDate.Before(inv.IssueDate.Time) {
		p.Add("due_date", "before_issue_date", "due_date must not be before issue_date")
	}
	cur, curErr := LookupCurrency(inv.Currency)
	if curErr != nil {
		p.Add("currency", "unknown_currency", curErr.Error())
	}
	scale := int32(-1) // skips decimals checks when the currency is unknown (reported above)
	if curErr == nil {
		scale = cur.Scale
	}
	switch {
	case inv.Locale == "":
		inv.Locale = "en"
	case !slices.Contains(Locales, inv.Locale):
		p.Add("locale", "unsupported_locale", fmt.Sprintf("locale must be one of %s, got %q", strings.Join(Locales, ", "), inv.Locale))
	}
	optionalText(&p, "purchase_order", inv.PurchaseOrder, 64)
	optionalText(&p, "customer_reference", inv.CustomerReference, 140)

	validateSeller(&p, &inv.Seller)
	validateCustomer(&p, &inv.Customer)
	checkMultiline(&p, "terms", inv.Terms)
	checkMultiline(&p, "notes", inv.Notes)
	if pt := inv.PaymentTerms; pt != nil {
		optionalText(&p, "payment_terms.text", pt.Text, maxTextLen)
	}
	if inv.Payment != nil {
		validatePayment(&p, inv.Payment)
	}
	validateAttachments(&p, inv.Attachments)

	switch {
	case len(inv.Lines) == 0:
		p.Add("lines", "required", "an invoice needs at least one line")
	case len(inv.Lines) > MaxLines:
		p.Add("lines", "too_many", fmt.Sprintf("an invoice may have at most %d lines", MaxLines))
	}
	lines := make([]lineAmounts, len(inv.Lines))
	for i := range inv.Lines {
		l := &inv.Lines[i]
		f := fmt.Sprintf("lines[%d]", i)
		requireText(&p, f+".description", l.Description, maxTextLen)
		optionalText(&p, f+".unit", l.Unit, 32)
		lines[i].qty = checkAmount(&p, f+".quantity", l.Quantity, decimal.NewFromInt(maxQuantity), maxQtyDecimals, false)
		lines[i].price = checkAmount(&p, f+".unit_price", l.UnitPrice, decimal.NewFromInt(maxUnitPrice), scale, true)
		if l.DiscountPercent != "" {
			lines[i].discount = checkAmount(&p, f+".discount_percent", l.DiscountPercent, decimal.NewFromInt(100), maxPercentDecimals, true)
		}
		lines[i].rate = checkAmount(&p, f+".tax_rate", l.TaxRate, decimal.NewFromInt(100), 2, true)
		l.TaxCategory = checkTaxCategory(&p, f, l.TaxCategory, l.TaxRate, lines[i].rate)
		lines[i].category = l.TaxCategory
	}
	if len(inv.Adjustments) > MaxAdjustments {
		p.Add("adjustments", "too_many", fmt.Sprintf("an invoice may have at most %d adjustments", MaxAdjustments))
	}
	adjs := make([]adjustmentAmount, len(inv.Adjustments))
	for i := range inv.Adjustments {
		a := &inv.Adjustments[i]
		f := fmt.Sprintf("adjustments[%d]", i)
		if a.Kind != AdjustmentDiscount && a.Kind != AdjustmentCharge {
			p.Add(f+".kind", "invalid_kind", f+`.kind must be "discount" or "charge"`)
		}
		requireText(&p, f+".reason", a.Reason, maxTextLen)
		adjs[i].charge = a.Kind == AdjustmentCharge
		adjs[i].amount = checkAmount(&p, f+".amount", a.Amount, maxTotal, scale, false)
		adjs[i].rate = checkAmount(&p, f+".tax_rate", a.TaxRate, decimal.NewFromInt(100), 2, true)
		a.TaxCategory = checkTaxCategory(&p, f, a.TaxCategory, a.TaxRate, adjs[i].rate)
		adjs[i].category = a.TaxCategory
	}
	paid := decimal.Zero
	if inv.AmountPaid != "" {
		paid = checkAmount(&p, "amount_paid", inv.AmountPaid, maxTotal, scale, true)
	}
	if err := p.Err("the invoice has invalid fields"); err != nil {
		return Totals{}, err
	}

	t, err := computeTotals(cur, lines, adjs, paid)
	if err != nil {
		return Totals{}, err
	}
	if err := inv.Totals.check(cur, t); err != nil {
		return Totals{}, err
	}
	return t, nil
}

// deriveDueDate checks payment_terms.net_days and, when the client sent no due date,
// sets it to the issue date plus the net days.
func (inv *Invoice) deriveDueDate(p *Problems) {
	var net *int
	if inv.PaymentTerms != nil {
		net = inv.PaymentTerms.NetDays
	}
	if net != nil && (*net < 0 || *net > maxNetDays) {
		p.Add("payment_terms.net_days", "out_of_range", fmt.Sprintf("payment_terms.net_days must be between 0 and %d", maxNetDays))
		net = nil
	}
	if inv.DueDate.IsZero() && inv.DueDate.Bad == "" && net != nil && !inv.IssueDate.IsZero() {
		inv.DueDate = NewDate(inv.IssueDate.AddDate(0, 0, *net))
		return
	}
	if inv.DueDate.IsZero() && inv.DueDate.Bad == "" {
		p.Add("due_date", "required", `due_date is required, as "YYYY-MM-DD", unless payment_terms.net_days is given`)
		return
	}
	checkDate(p, "due_date", inv.DueDate)
}

// check compares client-sent totals with the computed ones, naming each that differs.
func (ct *ClientTotals) check(cur Currency, t Totals) error {
	if ct == nil {
		return nil
	}
	var p Problems
	for _, c := range []struct {
		field string
		sent  DecimalText
		want  string
	}{
		{"totals.subtotal", ct.Subtotal, t.Subtotal},
		{"totals.tax", ct.Tax, t.Tax},
		{"totals.total", ct.Total, t.Total},
		{"totals.amount_due", ct.AmountDue, t.AmountDue},
	} {
		if c.sent == "" {
			continue
		}
		got, ok := parseDecimal(string(c.sent))
		if !ok {
			p.Add(c.field, "not_a_decimal", fmt.Sprintf("%s must be a plain decimal like \"19.99\", got %q", c.field, string(c.sent)))
			continue
		}
		if !got.Equal(decimal.RequireFromString(c.want)) {
			p.Add(c.field, "mismatch", fmt.Sprintf("%s is %s but the lines compute to %s %s (each line rounded half-up to %d decimals, tax per rate on the rate's sum); send the computed figure or leave totals out",
				c.field, string(c.sent), c.want, cur.Code, cur.Scale))
		}
	}
	return p.Err("the invoice's totals do not match its lines")
}

func validateSeller(p *Problems, s *Party) {
	validateParty(p, "seller", s.Name, s.Address)
	if s.Email != "" {
		validateEmail(p, "seller.email", s.Email)
	}
	optionalText(p, "seller.tax_id", s.TaxID, 64)
	optionalText(p, "seller.registration", s.Registration, 300)
	optionalText(p, "seller.phone", s.Phone, 32)
	if s.Website != "" {
		checkURL(p, "seller.website", s.Website, false)
	}
	if s.Logo != nil {
		switch {
		case s.Logo.Data.Bad:
			p.Add("seller.logo.data", "invalid_base64", "seller.logo.data must be standard base64")
		case len(s.Logo.Data.Bytes) == 0:
			p.Add("seller.logo.data", "required", "seller.logo.data is required when a logo is sent")
		case len(s.Logo.Data.Bytes) > MaxLogoBytes:
			p.Add("seller.logo.data", "too_large", fmt.Sprintf("the logo may be at most %d KiB", MaxLogoBytes>>10))
		default:
			if ct := sniffContentType(s.Logo.Data.Bytes); ct != "image/png" && ct != "image/jpeg" {
				p.Add("seller.logo.data", "unsupported_type", "the logo must be a PNG or JPEG image, got "+ct)
			}
		}
	}
}

func validateCustomer(p *Problems, c *Customer) {
	requireText(p, "customer.id", c.ID, 64)
	validateParty(p, "customer", c.Name, c.Address)
	optionalText(p, "customer.tax_id", c.TaxID, 64)
	requireText(p, "customer.contact.name", c.Contact.Name, maxTextLen)
	validateEmail(p, "customer.contact.email", c.Contact.Email)
	if len(c.CC) > MaxCC {
		p.Add("customer.cc", "too_many", fmt.Sprintf("at most %d cc recipients", MaxCC))
		return
	}
	seen := map[string]bool{strings.ToLower(c.Contact.Email): true}
	for i, cc := range c.CC {
		f := fmt.Sprintf("customer.cc[%d]", i)
		optionalText(p, f+".name", cc.Name, maxTextLen)
		validateEmail(p, f+".email", cc.Email)
		if seen[strings.ToLower(cc.Email)] {
			p.Add(f+".email", "duplicate", f+".email is already a recipient of this invoice")
		}
		seen[strings.ToLower(cc.Email)] = true
	}
}

var (
	bicPattern     = regexp.MustCompile(`^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
	accountPattern = regexp.MustCompile(`^[0-9]{4,17}$`)
)

func validatePayment(p *Problems, pay *Payment) {
	if pay.IBAN != "" && !validIBAN(pay.IBAN) {
		p.Add("payment.iban", "invalid_iban", "payment.iban must be an IBAN with a valid check sum, without spaces, like DE89370400440532013000")
	}
	if pay.BIC != "" && !bicPattern.MatchString(pay.BIC) {
		p.Add("payment.bic", "invalid_bic", "payment.bic must be an 8 or 11 character BIC like COBADEFFXXX")
	}
	if pay.AccountNumber != "" && !accountPattern.MatchString(pay.AccountNumber) {
		p.Add("payment.account_number", "invalid_account_number", "payment.account_number must be 4 to 17 digits")
	}
	if pay.RoutingNumber != "" && !validABA(pay.RoutingNumber) {
		p.Add("payment.routing_number", "invalid_routing_number", "payment.routing_number must be a 9-digit ABA routing number with a valid check digit")
	}
	if (pay.AccountNumber == "") != (pay.RoutingNumber == "") {
		p.Add("payment.routing_number", "incomplete_account", "payment.account_number and payment.routing_number go together: send both or neither")
	}
	optionalText(p, "payment.bank_name", pay.BankName, maxTextLen)
	optionalText(p, "payment.reference", pay.Reference, 140)
	if pay.Link != "" {
		checkURL(p, "payment.link", pay.Link, true)
	}
}

// validIBAN checks the length for known countries loosely (15 to 34) and the ISO 13616
// mod-97 check sum, which catches every single-character typo.
func validIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	for i, r := range s {
		switch {
		case i < 2 && (r < 'A' || r > 'Z'):
			return false
		case i >= 2 && i < 4 && (r < '0' || r > '9'):
			return false
		case !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
			return false
		}
	}
	var digits strings.Builder
	for _, r := range s[4:] + s[:4] {
		if r >= 'A' {
			digits.WriteString(strconv.Itoa(int(r-'A') + 10))
		} else {
			digits.WriteRune(r)
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// validABA checks a US routing number's check digit (weights 3, 7, 1).
func validABA(s string) bool {
	if len(s) != 9 {
		return false
	}
	sum := 0
	for i, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		sum += int(r-'0') * [3]int{3, 7, 1}[i%3]
	}
	return sum%10 == 0
}

func validateAttachments(p *Problems, as []AttachmentInput) {
	if len(as) > MaxAttachments {
		p.Add("attachments", "too_many", fmt.Sprintf("at most %d attachments; add more later with POST /v1/invoices/{id}/attachments", MaxAttachments))
		return
	}
	for i, a := range as {
		f := fmt.Sprintf("attachments[%d]", i)
		CheckFilename(p, f+".filename", a.Filename)
		optionalText(p, f+".description", a.Description, maxTextLen)
		if a.Key != "" || a.SHA256 != "" || a.Size != 0 || a.StoredType != "" {
			p.Add(f, "read_only", f+".key, sha256, size and content_type are set by the gateway when it archives the attachment; send only filename, description and data")
		}
		switch {
		case a.Data.Bad:
			p.Add(f+".data", "invalid_base64", f+".data must be standard base64")
		case len(a.Data.Bytes) == 0:
			p.Add(f+".data", "required", f+".data is required")
		case len(a.Data.Bytes) > MaxAttachmentBytes:
			p.Add(f+".data", "too_large", fmt.Sprintf("each attachment may be at most %d MiB", MaxAttachmentBytes>>20))
		default:
			if ct := a.ContentType(); !slices.Contains(attachmentTypes, ct) {
				p.Add(f+".data", "unsupported_type", "attachments must be PDF, PNG or JPEG; the content looks like "+ct)
			}
		}
	}
}

// CheckFilename accepts a plain file name: no directories, no control characters,
// nothing a mail client or a ZIP reader could misread.
func CheckFilename(p *Problems, field, name string) {
	requireText(p, field, name, 120)
	if strings.ContainsAny(name, `/\:*?"<>|`) || strings.HasPrefix(name, ".") {
		p.Add(field, "invalid_filename", field+` must be a plain file name like "delivery-note.pdf", without / \ : * ? " < > | or a leading dot`)
	}
}

// CheckAttachmentContent reports whether data is an accepted proof document and its
// sniffed content type.
func CheckAttachmentContent(data []byte) (contentType string, ok bool) {
	ct := sniffContentType(data)
	return ct, slices.Contains(attachmentTypes, ct)
}

func sniffContentType(b []byte) string {
	ct := http.DetectContentType(b)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return ct
}

// checkTaxCategory defaults and checks a line's or adjustment's VAT category against
// its rate, returning the category to keep.
func checkTaxCategory(p *Problems, prefix, cat string, rateText DecimalText, rate decimal.Decimal) string {
	if cat == "" {
		if rateText != "" && rate.IsZero() {
			return "Z"
		}
		return "S"
	}
	positive, known := taxCategories[cat]
	switch {
	case !known:
		p.Add(prefix+".tax_category", "unknown_tax_category", prefix+".tax_category must be an EN 16931 VAT category: S, Z, E, AE, K, G, O, L or M")
	case positive && rate.IsZero() && rateText != "":
		p.Add(prefix+".tax_rate", "zero_rate", fmt.Sprintf("%s.tax_rate must be above 0 for tax category %s; use Z for zero-rated", prefix, cat))
	case !positive && !rate.IsZero():
		p.Add(prefix+".tax_rate", "rate_not_allowed", fmt.Sprintf("%s.tax_rate must be 0 for tax category %s", prefix, cat))
	}
	return cat
}

// checkURL accepts an absolute http(s) URL; httpsOnly for links a payer follows.
func checkURL(p *Problems, field, s string, httpsOnly bool) {
	u, err := url.Parse(s)
	ok := err == nil && u.Host != "" && (u.Scheme == "https" || !httpsOnly && u.Scheme == "http") &&
		len(s) <= 2048 && !strings.ContainsFunc(s, unicode.IsControl) && u.User == nil
	if !ok {
		want := "an absolute http(s) URL"
		if httpsOnly {
			want = "an absolute https URL"
		}
		p.Add(field, "invalid_url", fmt.Sprintf("%s must be %s without credentials", field, want))
	}
}

func checkMultiline(p *Problems, field, s string) {
	switch {
	case !utf8.ValidString(s):
		p.Add(field, "invalid_utf8", field+" must be valid UTF-8")
	case strings.ContainsFunc(s, isBadMultilineRune):
		p.Add(field, "control_character", field+" must be text without control characters other than newlines and tabs")
	case utf8.RuneCountInString(s) > maxTermsLen:
		p.Add(field, "too_long", fmt.Sprintf("%s must be at most %d characters", field, maxTermsLen))
	}
}

// checkAmount parses a decimal field. maxPlaces < 0 skips the decimals check (used
// when the currency itself is unknown and already reported).
func checkAmount(p *Problems, field string, text DecimalText, max decimal.Decimal, maxPlaces int32, zeroOK bool) decimal.Decimal {
	if text == "" {
		p.Add(field, "required", field+" is required, as a decimal string like \"19.99\"")
		return decimal.Zero
	}
	d, ok := parseDecimal(string(text))
	switch {
	case !ok:
		p.Add(field, "not_a_decimal", fmt.Sprintf("%s must be a plain decimal like \"19.99\" (no exponent, NaN or separators), got %q", field, string(text)))
	case d.IsNegative():
		p.Add(field, "negative", field+" must not be negative")
	case !zeroOK && d.IsZero():
		p.Add(field, "zero", field+" must be greater than zero")
	case d.GreaterThan(max):
		p.Add(field, "too_large", fmt.Sprintf("%s must be at most %s", field, max))
	case maxPlaces >= 0 && decimalPlaces(d) > maxPlaces:
		p.Add(field, "too_many_decimals", fmt.Sprintf("%s may have at most %d decimal places", field, maxPlaces))
	default:
		return d
	}
	return decimal.Zero
}

func checkDate(p *Problems, field string, d Date) {
	switch {
	case d.Bad != "":
		p.Add(field, "invalid_date", fmt.Sprintf(`%s must be a date like "2026-11-23", got %s`, field, strconv.Quote(d.Bad)))
	case d.IsZero():
		p.Add(field, "required", field+` is required, as "YYYY-MM-DD"`)
	case d.Year() < 2000 || d.Year() > 2100:
		p.Add(field, "out_of_range", field+" must be between the years 2000 and 2100")
	}
}

func validateParty(p *Problems, prefix, name string, a Address) {
	requireText(p, prefix+".name", name, maxTextLen)
	requireText(p, prefix+".address.line1", a.Line1, maxTextLen)
	optionalText(p, prefix+".address.line2", a.Line2, maxTextLen)
	requireText(p, prefix+".address.city", a.City, maxTextLen)
	optionalText(p, prefix+".address.postal_code", a.PostalCode, 16)
	optionalText(p, prefix+".address.region", a.Region, maxTextLen)
	if len(a.Country) != 2 || !isASCIIUpper(a.Country) {
		p.Add(prefix+".address.country", "invalid_country", "country must be an ISO 3166-1 alpha-2 code such as \"DE\"")
	}
}

func requireText(p *Problems, field, s string, max int) {
	if strings.TrimSpace(s) == "" {
		p.Add(field, "required", field+" is required")
		return
	}
	optionalText(p, field, s, max)
}

// optionalText rejects control characters (CR/LF above all: these values end up in
// mail headers and PDF lines) and overlong values.
func optionalText(p *Problems, field, s string, max int) {
	switch {
	case !utf8.ValidString(s):
		p.Add(field, "invalid_utf8", field+" must be valid UTF-8")
	case strings.ContainsFunc(s, unicode.IsControl):
		p.Add(field, "control_character", field+" must not contain line breaks or other control characters")
	case utf8.RuneCountInString(s) > max:
		p.Add(field, "too_long", fmt.Sprintf("%s must be at most %d characters", field, max))
	}
}

// ValidateEmail is validateEmail for callers outside the invoice (new recipients,
// collector accounts): nil or a KindInvalid error naming field.
func ValidateEmail(field, s string) error {
	var p Problems
	validateEmail(&p, field, s)
	return p.Err("invalid e-mail address")
}

// validateEmail accepts a bare RFC 5322 addr-spec with a dotted domain, nothing else:
// no display name, no comments, no control characters.
func validateEmail(p *Problems, field, s string) {
	if s == "" {
		p.Add(field, "required", field+" is required")
		return
	}
	bad := func() {
		p.Add(field, "invalid_email", fmt.Sprintf("%s must be an e-mail address like \"jane@example.com\", got %q", field, s))
	}
	if len(s) > 254 || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		bad()
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		bad()
		return
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.HasPrefix(domain, "[") {
		bad()
	}
}

func isBadMultilineRune(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r'
}

func isASCIIUpper(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
