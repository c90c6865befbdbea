package gateway

import (
	"context"
	"strings"
	"time"
)

// TermsVersion is one version of a tenant's or a customer's default terms and
// conditions. Versions are never changed: a new text is a new version.
type TermsVersion struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	CustomerID string    `json:"customer_id,omitempty"` // "" for the tenant's default
	Text       string    `json:"text"`
	SHA256     string    `json:"sha256"`
	CreatedAt  time.Time `json:"created_at"`
	TenantID   string    `json:"-"`
}

// ResolvedTerms are the terms an invoice prints and where they came from.
type ResolvedTerms struct {
	Text      string
	SHA256    string
	VersionID string
	Source    string // "invoice", "customer" or "tenant"
}

// TermsStore keeps versioned default terms.
type TermsStore interface {
	// AddTermsVersion stores a new version, which becomes the one in force.
	// Errors: KindUnavailable.
	AddTermsVersion(ctx context.Context, v TermsVersion) error
	// CurrentTerms returns the version in force for the customer ("" = the
	// tenant's default), falling back to the tenant's default when fallback is set.
	// Errors: KindNotFound, KindUnavailable.
	CurrentTerms(ctx context.Context, tenantID, customerID string, fallback bool) (TermsVersion, error)
}

// resolveTerms applies the rule every invoice follows: its own terms, else the
// customer's default, else the tenant's default; none is a 422.
func (in *Intake) resolveTerms(ctx context.Context, tenantID string, inv *Invoice) (ResolvedTerms, error) {
	if strings.TrimSpace(inv.Terms) != "" {
		sha := sha256Hex([]byte(inv.Terms))
		// Per-invoice terms have no stored version: their id is derived from the text,
		// so equal texts share an id.
		return ResolvedTerms{Text: inv.Terms, SHA256: sha, VersionID: "trm_inv_" + sha[:24], Source: "invoice"}, nil
	}
	v, err := in.store.CurrentTerms(ctx, tenantID, inv.Customer.ID, true)
	if ErrorKind(err) == KindNotFound {
		return ResolvedTerms{}, &Error{Kind: KindInvalid, Message: "the invoice has no terms and conditions",
			Fields: []FieldError{{Field: "terms", Code: "required",
				Message: "every invoice prints its terms and conditions: send terms, or set defaults with PUT /v1/customers/{customer_id}/terms or PUT /v1/settings/terms"}}}
	}
	if err != nil {
		return ResolvedTerms{}, err
	}
	source := "tenant"
	if v.CustomerID != "" {
		source = "customer"
	}
	return ResolvedTerms{Text: v.Text, SHA256: v.SHA256, VersionID: v.ID, Source: source}, nil
}

// NewTermsVersion checks a terms text and returns it as a new version.
func NewTermsVersion(tenantID, customerID, text string, now time.Time) (TermsVersion, error) {
	var p Problems
	if strings.TrimSpace(text) == "" {
		p.Add("text", "required", "text is required: the terms and conditions printed on invoices")
	} else {
		checkMultiline(&p, "text", text)
	}
	if customerID != "" {
		requireText(&p, "customer_id", customerID, 64)
	}
	if err := p.Err("the terms have invalid fields"); err != nil {
		return TermsVersion{}, err
	}
	return TermsVersion{ID: NewID("trm"), Object: "terms_version", TenantID: tenantID, CustomerID: customerID,
		Text: text, SHA256: sha256Hex([]byte(text)), CreatedAt: now.UTC()}, nil
}

// SetTerms stores a new version of the tenant's (customerID "") or a customer's
// default terms.
func (in *Intake) SetTerms(ctx context.Context, tenantID, customerID, text string) (TermsVersion, error) {
	v, err := NewTermsVersion(tenantID, customerID, text, in.now())
	if err != nil {
		return TermsVersion{}, err
	}
	if err := in.store.AddTermsVersion(ctx, v); err != nil {
		return TermsVersion{}, err
	}
	return v, nil
}

// Terms returns the version in force for the tenant (customerID "") or a customer.
func (in *Intake) Terms(ctx context.Context, tenantID, customerID string) (TermsVersion, error) {
	v, err := in.store.CurrentTerms(ctx, tenantID, customerID, false)
	if err != nil {
		return TermsVersion{}, err
	}
	v.Object = "terms_version"
	return v, nil
}
