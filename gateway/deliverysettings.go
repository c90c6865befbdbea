package gateway

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// AttachMode says how the invoice PDF reaches the recipient.
type AttachMode string

const (
	AttachPDF  AttachMode = "attach" // the PDF is attached; no hosted-page link
	AttachLink AttachMode = "link"   // only a tracked link to the hosted page
	AttachBoth AttachMode = "both"   // attached and linked (the default)
)

// EmailTemplate is a tenant's own wording of the invoice e-mail for one locale, in
// Go template syntax over EmailData. Empty parts fall back to the built-in ones.
type EmailTemplate struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// DKIMSettings is a tenant's DKIM signing key. The private key is write-only: it is
// never returned by the API.
type DKIMSettings struct {
	Domain     string `json:"domain"`
	Selector   string `json:"selector"`
	PrivateKey string `json:"private_key,omitempty"`
}

// DeliverySettings is how one tenant's invoices are e-mailed. The zero value sends
// from INVOICEGW_MAIL_FROM with the seller's name, Reply-To the seller's address,
// PDF attached and linked, no read receipt, unsigned, built-in templates.
type DeliverySettings struct {
	FromName    string                   `json:"from_name,omitempty"`
	FromEmail   string                   `json:"from_email,omitempty"`
	ReplyTo     string                   `json:"reply_to,omitempty"` // the tenant's accounts-receivable mailbox
	Attach      AttachMode               `json:"attach,omitempty"`
	ReadReceipt bool                     `json:"read_receipt"`
	DKIM        *DKIMSettings            `json:"dkim,omitempty"`
	Templates   map[string]EmailTemplate `json:"templates,omitempty"` // by locale: en, de, fr, es, nl
}

func (s DeliverySettings) attachMode() AttachMode {
	if s.Attach == "" {
		return AttachBoth
	}
	return s.Attach
}

// Template returns the tenant's template for locale, falling back to "en"; nil when
// the tenant has none.
func (s DeliverySettings) Template(locale string) *EmailTemplate {
	if t, ok := s.Templates[locale]; ok {
		return &t
	}
	if t, ok := s.Templates["en"]; ok {
		return &t
	}
	return nil
}

// DKIMKey is the signing identity, nil when the tenant signs nothing.
func (s DeliverySettings) DKIMKey() *DKIMKey {
	if s.DKIM == nil || s.DKIM.PrivateKey == "" {
		return nil
	}
	return &DKIMKey{Domain: s.DKIM.Domain, Selector: s.DKIM.Selector, PrivateKey: s.DKIM.PrivateKey}
}

// Redacted is s as the API shows it: without the DKIM private key.
func (s DeliverySettings) Redacted() DeliverySettings {
	if s.DKIM != nil {
		d := *s.DKIM
		d.PrivateKey = ""
		s.DKIM = &d
	}
	return s
}

var dnsLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// SettingsChecker checks what only other packages can: that templates parse and
// execute, and that a DKIM key is usable.
type SettingsChecker interface {
	// CheckTemplate returns a message per bad part ("subject", "text", "html").
	CheckTemplate(t EmailTemplate) map[string]string
	// CheckDKIMKey returns why the PEM key cannot sign, or nil.
	CheckDKIMKey(pem string) error
}

// Validate names every bad field.
func (s DeliverySettings) Validate(chk SettingsChecker) error {
	var fields []FieldError
	bad := func(field, code, msg string) {
		fields = append(fields, FieldError{Field: field, Code: code, Message: msg})
	}
	bareAddress := func(field, v string) {
		if v == "" {
			return
		}
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			bad(field, "invalid", "must be a bare e-mail address like billing@example.com")
		}
	}
	bareAddress("from_email", s.FromEmail)
	bareAddress("reply_to", s.ReplyTo)
	if strings.ContainsAny(s.FromName, "\r\n") || len(s.FromName) > 200 {
		bad("from_name", "invalid", "must be one line of at most 200 characters")
	}
	switch s.Attach {
	case "", AttachPDF, AttachLink, AttachBoth:
	default:
		bad("attach", "invalid", "must be attach, link or both")
	}
	if s.DKIM != nil {
		if !validDomain(s.DKIM.Domain) {
			bad("dkim.domain", "invalid", "must be a domain name like example.com")
		}
		if !dnsLabel.MatchString(s.DKIM.Selector) {
			bad("dkim.selector", "invalid", "must be one DNS label like invoices2026")
		}
		if s.DKIM.PrivateKey == "" {
			bad("dkim.private_key", "required", "a PEM private key (RSA of at least 1024 bits, or Ed25519) is required with dkim")
		} else if chk != nil {
			if err := chk.CheckDKIMKey(s.DKIM.PrivateKey); err != nil {
				bad("dkim.private_key", "invalid", err.Error())
			}
		}
	}
	for locale, t := range s.Templates {
		known := false
		for _, l := range Locales {
			known = known || l == locale
		}
		if !known {
			bad("templates."+locale, "invalid", "locale must be one of "+strings.Join(Locales, ", "))
			continue
		}
		if chk != nil {
			for part, msg := range chk.CheckTemplate(t) {
				bad(fmt.Sprintf("templates.%s.%s", locale, part), "invalid", msg)
			}
		}
	}
	if len(fields) > 0 {
		return &Error{Kind: KindInvalid, Message: "the delivery settings are not valid", Fields: fields}
	}
	return nil
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// SettingsStore keeps tenants' delivery settings.
type SettingsStore interface {
	// DeliverySettings returns the tenant's settings, the zero value when none were
	// saved. Errors: KindUnavailable.
	DeliverySettings(ctx context.Context, tenantID string) (DeliverySettings, error)
	// SetDeliverySettings replaces them. Errors: KindUnavailable.
	SetDeliverySettings(ctx context.Context, tenantID string, s DeliverySettings) error
}

// invoiceLocale is the language of the invoice's e-mail, the same as its PDF's.
func invoiceLocale(r *Record) string {
	if r.Invoice.Locale == "" {
		return "en"
	}
	return r.Invoice.Locale
}
