package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Limits that keep one invoice within what a PDF, an e-mail and a human can carry.
const (
	MaxLines       = 1000
	maxTextLen     = 200   // names, address lines, descriptions
	maxTermsLen    = 20000 // terms and conditions text
	maxQuantity    = 1_000_000_000
	maxUnitPrice   = 1_000_000_000_000
	maxQtyDecimals = 4
)

// Date is a calendar date without time of day, written as "2006-01-02". A value the
// client sent that is not such a date is kept in Bad, so that Validate can report it
// by field name together with every other problem instead of failing the decode.
type Date struct {
	time.Time
	Bad string
}

// NewDate returns the Date of t's calendar day.
func NewDate(t time.Time) Date {
	return Date{Time: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)}
}

func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte(`null`), nil
	}
	return []byte(`"` + d.Format(time.DateOnly) + `"`), nil
}

func (d *Date) UnmarshalJSON(b []byte) error {
	*d = Date{}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.Bad = string(b)
		return nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		d.Bad = s
		return nil
	}
	d.Time = t
	return nil
}

// DecimalText is an amount as the client wrote it. It accepts a JSON string or a JSON
// number and keeps the exact text, so that Validate can insist on plain decimals and
// no float ever touches the value.
type DecimalText string

func (t *DecimalText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = DecimalText(s)
		return nil
	}
	// A number keeps its exact text; anything else (true, {}, []) is kept too and
	// rejected by Validate with the field's name.
	*t = DecimalText(b)
	return nil
}

type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code,omitempty"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
}

type Party struct {
	Name    string  `json:"name"`
	Email   string  `json:"email,omitempty"`
	TaxID   string  `json:"tax_id,omitempty"`
	Address Address `json:"address"`
}

// Contact is the named person an invoice is addressed to.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type Customer struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	TaxID   string  `json:"tax_id,omitempty"`
	Address Address `json:"address"`
	Contact Contact `json:"contact"`
}

type Line struct {
	Description string      `json:"description"`
	Quantity    DecimalText `json:"quantity"`
	Unit        string      `json:"unit,omitempty"`
	UnitPrice   DecimalText `json:"unit_price"`
	TaxRate     DecimalText `json:"tax_rate"`
}

type Payment struct {
	IBAN      string `json:"iban,omitempty"`
	BIC       string `json:"bic,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// Invoice is the document as the accounting system sent it. Field names are the API
// contract; see the OpenAPI document.
type Invoice struct {
	Number    string   `json:"number"`
	IssueDate Date     `json:"issue_date"`
	DueDate   Date     `json:"due_date"`
	Currency  string   `json:"currency"`
	Seller    Party    `json:"seller"`
	Customer  Customer `json:"customer"`
	Lines     []Line   `json:"lines"`
	Terms     string   `json:"terms,omitempty"`
	Notes     string   `json:"notes,omitempty"`
	Payment   *Payment `json:"payment,omitempty"`
}

// TaxAmount is the tax owed at one rate.
type TaxAmount struct {
	Rate    string `json:"rate"`
	Taxable string `json:"taxable"`
	Tax     string `json:"tax"`
}

// Totals are computed by the gateway, never taken from the client. Each line's net
// amount is rounded half-up to the currency's minor unit; tax is computed per rate on
// the sum of the rounded line amounts at that rate and rounded once (EN 16931 style).
type Totals struct {
	Lines     []string    `json:"lines"`
	Subtotal  string      `json:"subtotal"`
	Tax       string      `json:"tax"`
	Total     string      `json:"total"`
	AmountDue string      `json:"amount_due"`
	TaxRates  []TaxAmount `json:"tax_breakdown"`
}

// Validate checks every field and, when all are good, computes the totals. All
// problems are reported at once in a KindInvalid *Error. A missing terms text is
// not checked here: terms may come from the tenant's defaults (see Intake).
func (inv *Invoice) Validate() (Totals, error) {
	var p Problems
	requireText(&p, "number", inv.Number, 64)
	checkDate(&p, "issue_date", inv.IssueDate)
	checkDate(&p, "due_date", inv.DueDate)
	if !inv.IssueDate.IsZero() && !inv.DueDate.IsZero() && inv.DueDate.Before(inv.IssueDate.Time) {
		p.Add("due_date", "before_issue_date", "due_date must not be before issue_date")
	}
	cur, curErr := LookupCurrency(inv.Currency)
	if curErr != nil {
		p.Add("currency", "unknown_currency", curErr.Error())
	}
	validateParty(&p, "seller", inv.Seller.Name, inv.Seller.Address)
	if inv.Seller.Email != "" {
		validateEmail(&p, "seller.email", inv.Seller.Email)
	}
	optionalText(&p, "seller.tax_id", inv.Seller.TaxID, 64)
	requireText(&p, "customer.id", inv.Customer.ID, 64)
	validateParty(&p, "customer", inv.Customer.Name, inv.Customer.Address)
	optionalText(&p, "customer.tax_id", inv.Customer.TaxID, 64)
	requireText(&p, "customer.contact.name", inv.Customer.Contact.Name, maxTextLen)
	validateEmail(&p, "customer.contact.email", inv.Customer.Contact.Email)
	if len(inv.Terms) > maxTermsLen {
		p.Add("terms", "too_long", fmt.Sprintf("terms must be at most %d characters", maxTermsLen))
	}
	if !utf8.ValidString(inv.Terms) || strings.ContainsFunc(inv.Terms, isBadMultilineRune) {
		p.Add("terms", "control_character", "terms must be UTF-8 text without control characters other than newlines and tabs")
	}
	if len(inv.Notes) > maxTermsLen || strings.ContainsFunc(inv.Notes, isBadMultilineRune) {
		p.Add("notes", "invalid_text", fmt.Sprintf("notes must be at most %d characters of text without control characters", maxTermsLen))
	}
	if inv.Payment != nil {
		optionalText(&p, "payment.iban", inv.Payment.IBAN, 34)
		optionalText(&p, "payment.bic", inv.Payment.BIC, 11)
		optionalText(&p, "payment.reference", inv.Payment.Reference, 140)
	}

	switch {
	case len(inv.Lines) == 0:
		p.Add("lines", "required", "an invoice needs at least one line")
	case len(inv.Lines) > MaxLines:
		p.Add("lines", "too_many", fmt.Sprintf("an invoice may have at most %d lines", MaxLines))
	}
	type parsedLine struct{ qty, price, rate decimal.Decimal }
	parsed := make([]parsedLine, len(inv.Lines))
	for i, l := range inv.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		requireText(&p, f+".description", l.Description, maxTextLen)
		optionalText(&p, f+".unit", l.Unit, 32)
		parsed[i].qty = checkAmount(&p, f+".quantity", l.Quantity, decimal.NewFromInt(maxQuantity), maxQtyDecimals, false)
		priceScale := int32(-1)
		if curErr == nil {
			priceScale = cur.Scale
		}
		parsed[i].price = checkAmount(&p, f+".unit_price", l.UnitPrice, decimal.NewFromInt(maxUnitPrice), priceScale, true)
		parsed[i].rate = checkAmount(&p, f+".tax_rate", l.TaxRate, decimal.NewFromInt(100), 2, true)
	}
	if err := p.Err("the invoice has invalid fields"); err != nil {
		return Totals{}, err
	}

	var t Totals
	subtotal := decimal.Zero
	taxable := map[string]decimal.Decimal{}
	var rateOrder []string
	for _, l := range parsed {
		net := cur.Round(l.qty.Mul(l.price))
		t.Lines = append(t.Lines, cur.Format(net))
		subtotal = subtotal.Add(net)
		key := l.rate.String()
		if _, seen := taxable[key]; !seen {
			rateOrder = append(rateOrder, key)
		}
		taxable[key] = taxable[key].Add(net)
	}
	tax := decimal.Zero
	for _, key := range rateOrder {
		rate := decimal.RequireFromString(key)
		amount := cur.Round(taxable[key].Mul(rate).Div(decimal.NewFromInt(100)))
		tax = tax.Add(amount)
		t.TaxRates = append(t.TaxRates, TaxAmount{Rate: key, Taxable: cur.Format(taxable[key]), Tax: cur.Format(amount)})
	}
	total := subtotal.Add(tax)
	t.Subtotal, t.Tax, t.Total, t.AmountDue = cur.Format(subtotal), cur.Format(tax), cur.Format(total), cur.Format(total)
	return t, nil
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
	if len(a.Country) != 2 || strings.ToUpper(a.Country) != a.Country || !isASCIILetters(a.Country) {
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

func isASCIILetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
