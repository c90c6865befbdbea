package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// IntakeStore is what accepting and reading invoices needs from storage.
type IntakeStore interface {
	// CreateInvoice stores r, its deliveries and the accepted event, and enqueues
	// their delivery jobs, atomically. Errors: KindConflict (number already used, with
	// Detail["invoice_id"]), KindUnavailable.
	CreateInvoice(ctx context.Context, r *Record, accepted Event) error
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
	// Events returns an invoice's timeline, oldest first. Errors: KindNotFound, KindUnavailable.
	Events(ctx context.Context, tenantID, invoiceID string) ([]Event, error)
}

// Intake accepts invoices from accounting systems and answers their questions
// about them.
type Intake struct {
	store         IntakeStore
	archive       Archive
	messageDomain string // right-hand side of Message-IDs
	now           func() time.Time
	log           *slog.Logger
}

// NewIntake returns the intake use cases. messageDomain ends every Message-ID the
// gateway generates (e.g. the host of the public URL).
func NewIntake(store IntakeStore, archive Archive, messageDomain string, now func() time.Time, log *slog.Logger) *Intake {
	return &Intake{store: store, archive: archive, messageDomain: messageDomain, now: now, log: log}
}

// Accept validates an invoice body, resolves its terms, and stores it with its
// delivery enqueued. Nothing is stored when anything is wrong.
func (in *Intake) Accept(ctx context.Context, tenant Tenant, body []byte) (*Record, error) {
	inv, err := DecodeInvoice(body)
	if err != nil {
		return nil, err
	}
	totals, err := inv.Validate()
	if err != nil {
		return nil, err
	}
	terms, source := inv.Terms, "invoice"
	if terms == "" {
		terms, source = tenant.DefaultTerms, "tenant"
	}
	if len(bytes.TrimSpace([]byte(terms))) == 0 {
		return nil, &Error{Kind: KindInvalid, Message: "the invoice has no terms and conditions",
			Fields: []FieldError{{Field: "terms", Code: "required",
				Message: "every invoice prints its terms and conditions: send terms, or set the tenant's default terms"}}}
	}
	now := in.now().UTC()
	termsSHA := sha256Hex([]byte(terms))
	r := &Record{
		ID:            NewID("inv"),
		TenantID:      tenant.ID,
		Invoice:       *inv,
		Totals:        totals,
		Terms:         terms,
		TermsSHA256:   termsSHA,
		TermsVersion:  source + "-" + termsSHA[:12],
		TermsSource:   source,
		PayloadSHA256: sha256Hex(body),
		Status:        StatusQueued,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// One delivery per recipient: the named contact first (the invoice's status is
	// its), then each cc, each with its own tokens and evidence.
	for _, to := range append([]Contact{inv.Customer.Contact}, inv.Customer.CC...) {
		d, err := in.newDelivery(r, to, now)
		if err != nil {
			return nil, err
		}
		r.Deliveries = append(r.Deliveries, d)
	}
	accepted := NewEvent(r.ID, "", EventAccepted, now, map[string]string{
		"payload_sha256": r.PayloadSHA256,
		"number":         inv.Number,
		"total":          totals.Total,
		"currency":       inv.Currency,
		"terms_sha256":   r.TermsSHA256,
	})
	if err := in.store.CreateInvoice(ctx, r, accepted); err != nil {
		return nil, err
	}
	in.log.InfoContext(ctx, "invoice accepted", "invoice_id", r.ID, "tenant_id", tenant.ID, "number", inv.Number)
	return r, nil
}

// newDelivery prepares one recipient's delivery of r, with its Message-ID and its
// VERP bounce token.
func (in *Intake) newDelivery(r *Record, to Contact, now time.Time) (Delivery, error) {
	id := NewID("dlv")
	bounce, err := tracking.NewBounceToken()
	if err != nil {
		return Delivery{}, Wrap(KindInternal, err, "could not create the delivery")
	}
	return Delivery{ID: id, InvoiceID: r.ID, TenantID: r.TenantID, Recipient: to, Status: StatusQueued,
		MessageID: id + "@" + in.messageDomain, BounceToken: bounce, UpdatedAt: now}, nil
}

// Invoice returns one of the tenant's invoices.
func (in *Intake) Invoice(ctx context.Context, tenantID, id string) (*Record, error) {
	if !ValidID("inv", id) {
		return nil, Errorf(KindNotFound, "invoice %q not found", id)
	}
	return in.store.Invoice(ctx, tenantID, id)
}

// Events returns an invoice's timeline, oldest first.
func (in *Intake) Events(ctx context.Context, tenantID, id string) ([]Event, error) {
	if !ValidID("inv", id) {
		return nil, Errorf(KindNotFound, "invoice %q not found", id)
	}
	return in.store.Events(ctx, tenantID, id)
}

// PDF returns the archived PDF exactly as sent, after checking its bytes against the
// hash recorded when it was archived.
func (in *Intake) PDF(ctx context.Context, tenantID, id string) (*Record, []byte, error) {
	r, err := in.Invoice(ctx, tenantID, id)
	if err != nil {
		return nil, nil, err
	}
	data, err := fetchPDF(ctx, in.archive, r)
	return r, data, err
}

// fetchPDF reads an invoice's archived PDF and refuses bytes that do not match the
// recorded hash: evidence that changed is not evidence.
func fetchPDF(ctx context.Context, archive Archive, r *Record) ([]byte, error) {
	if r.PDF == nil {
		return nil, Errorf(KindConflict, "the PDF of invoice %s is not archived yet; it is ready once the timeline shows the archived event", r.ID)
	}
	data, err := archive.Get(ctx, r.PDF.Key)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(data); got != r.PDF.SHA256 {
		return nil, &Error{Kind: KindInternal, Message: "the archived PDF does not match its recorded hash",
			Err: fmt.Errorf("pdf %s: sha256 %s, recorded %s", r.PDF.Key, got, r.PDF.SHA256)}
	}
	return data, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
