package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
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

// Blob is binary content carried in JSON as standard base64. Content that is not
// valid base64 is kept as Bad so that Validate reports it by field name with every
// other problem.
type Blob struct {
	Bytes []byte
	Bad   bool
}

func (b Blob) MarshalJSON() ([]byte, error) {
	if b.Bytes == nil {
		return []byte(`null`), nil
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b.Bytes))
}

func (b *Blob) UnmarshalJSON(data []byte) error {
	*b = Blob{}
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		b.Bad = true
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b.Bad = true
		return nil
	}
	b.Bytes = raw
	return nil
}

// Logo is the seller's logo printed on the PDF: a PNG or JPEG image.
type Logo struct {
	Data Blob `json:"data"`
}

type Party struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"` // the accounts-receivable mailbox: Reply-To of the e-mail
	TaxID string `json:"tax_id,omitempty"`
	// Registration is the legal footer text: court, register number, directors.
	Registration string  `json:"registration,omitempty"`
	Phone        string  `json:"phone,omitempty"`
	Website      string  `json:"website,omitempty"`
	Address      Address `json:"address"`
	Logo         *Logo   `json:"logo,omitempty"`
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
	// CC are further recipients; each gets its own delivery with its own evidence.
	CC []Contact `json:"cc,omitempty"`
}

type Line struct {
	Description     string      `json:"description"`
	Quantity        DecimalText `json:"quantity"`
	Unit            string      `json:"unit,omitempty"`
	UnitPrice       DecimalText `json:"unit_price"`
	DiscountPercent DecimalText `json:"discount_percent,omitempty"`
	TaxRate         DecimalText `json:"tax_rate"`
	// TaxCategory is the EN 16931 VAT category code (UNCL5305): S standard, Z zero
	// rated, E exempt, AE reverse charge, K intra-community, G export, O outside
	// scope, L and M Canary Islands and Ceuta/Melilla. Default S, or Z at rate 0.
	TaxCategory string `json:"tax_category,omitempty"`
}

// AdjustmentKind says whether a document-level adjustment lowers or raises the total.
type AdjustmentKind string

const (
	AdjustmentDiscount AdjustmentKind = "discount" // an allowance, EN 16931 BG-20
	AdjustmentCharge   AdjustmentKind = "charge"   // a charge, EN 16931 BG-21
)

// Adjustment is a document-level discount or charge, taxed at its own rate.
type Adjustment struct {
	Kind        AdjustmentKind `json:"kind"`
	Reason      string         `json:"reason"`
	Amount      DecimalText    `json:"amount"`
	TaxRate     DecimalText    `json:"tax_rate"`
	TaxCategory string         `json:"tax_category,omitempty"`
}

// PaymentTerms are the printed terms of payment; NetDays derives the due date when
// the client sends none.
type PaymentTerms struct {
	Text    string `json:"text,omitempty"`
	NetDays *int   `json:"net_days,omitempty"`
}

// Payment says how to pay: a SEPA account (IBAN/BIC), a US account (account and
// routing number), a reference to quote, and an optional https payment link.
type Payment struct {
	IBAN          string `json:"iban,omitempty"`
	BIC           string `json:"bic,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	BankName      string `json:"bank_name,omitempty"`
	Reference     string `json:"reference,omitempty"`
	Link          string `json:"link,omitempty"`
}

// ClientTotals are totals the accounting system computed itself. They are optional;
// when sent, each must equal the gateway's own figure, so that a client whose
// rounding differs finds out at once instead of in a dispute.
type ClientTotals struct {
	Subtotal  DecimalText `json:"subtotal,omitempty"`
	Tax       DecimalText `json:"tax,omitempty"`
	Total     DecimalText `json:"total,omitempty"`
	AmountDue DecimalText `json:"amount_due,omitempty"`
}

// AttachmentInput is a proof-of-delivery document sent with the invoice (a signed
// delivery note, a photo of the goods received): PDF, PNG or JPEG.
//
// Once archived, the stored invoice keeps only the reference (Key, SHA256, Size,
// ContentType): the bytes live in the archive, never in the database document.
type AttachmentInput struct {
	Filename    string `json:"filename"`
	Description string `json:"description,omitempty"`
	Data        Blob   `json:"data,omitzero"`
	// Set by the gateway when archived; a client sending them is refused.
	Key        string `json:"key,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Size       int64  `json:"size,omitempty"`
	StoredType string `json:"content_type,omitempty"`
}

// ContentType is the sniffed type of the attachment's bytes (never the client's word).
func (a AttachmentInput) ContentType() string {
	return sniffContentType(a.Data.Bytes)
}

// Locales the PDF and e-mail are printed in.
var Locales = []string{"en", "de", "fr", "es", "nl"}

// Invoice is the document as the accounting system sent it. Field names are the API
// contract; see the OpenAPI document.
type Invoice struct {
	Number            string            `json:"number"`
	IssueDate         Date              `json:"issue_date"`
	DueDate           Date              `json:"due_date"`
	Currency          string            `json:"currency"`
	Locale            string            `json:"locale,omitempty"`
	PurchaseOrder     string            `json:"purchase_order,omitempty"`
	CustomerReference string            `json:"customer_reference,omitempty"`
	Seller            Party             `json:"seller"`
	Customer          Customer          `json:"customer"`
	Lines             []Line            `json:"lines"`
	Adjustments       []Adjustment      `json:"adjustments,omitempty"`
	PaymentTerms      *PaymentTerms     `json:"payment_terms,omitempty"`
	Payment           *Payment          `json:"payment,omitempty"`
	AmountPaid        DecimalText       `json:"amount_paid,omitempty"`
	Terms             string            `json:"terms,omitempty"`
	Notes             string            `json:"notes,omitempty"`
	Totals            *ClientTotals     `json:"totals,omitempty"`
	Attachments       []AttachmentInput `json:"attachments,omitempty"`
}

// TaxAmount is the tax owed in one VAT category at one rate.
type TaxAmount struct {
	Category string `json:"category"`
	Rate     string `json:"rate"`
	Taxable  string `json:"taxable"`
	Tax      string `json:"tax"`
}

// Totals are computed by the gateway, never taken from the client; see computeTotals
// for the rounding rules.
type Totals struct {
	Lines         []string    `json:"lines"`          // each line's net amount, after its discount
	LineDiscounts []string    `json:"line_discounts"` // each line's discount amount
	Subtotal      string      `json:"subtotal"`       // sum of the line net amounts
	Allowances    string      `json:"allowances"`     // document-level discounts
	Charges       string      `json:"charges"`        // document-level charges
	Tax           string      `json:"tax"`
	Total         string      `json:"total"` // subtotal - allowances + charges + tax
	AmountPaid    string      `json:"amount_paid"`
	AmountDue     string      `json:"amount_due"` // total - amount paid
	TaxRates      []TaxAmount `json:"tax_breakdown"`
}
