package gateway

import (
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// Events of operator actions on deliveries. They prove nothing about the recipient,
// so they have no level.
const (
	EventResendRequested EventType = "resend_requested" // an operator asked for another attempt
	EventDeliveryAdded   EventType = "delivery_added"   // the invoice goes to another contact too
)

// DeliveriesStore is what operator actions on deliveries need from storage.
type DeliveriesStore interface {
	SettingsStore
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
	// TenantDelivery returns one of the tenant's deliveries. Errors: KindNotFound.
	TenantDelivery(ctx context.Context, tenantID, deliveryID string) (*Delivery, error)
	// Resend queues another attempt of an unknown_outcome, failed or bounced
	// delivery, with its event. Errors: KindNotFound, KindConflict (other states).
	Resend(ctx context.Context, tenantID, deliveryID string, e Event) (*Delivery, error)
	// AddDelivery stores a further delivery of an invoice with its event and job.
	// Errors: KindNotFound.
	AddDelivery(ctx context.Context, d Delivery, e Event) error
}

// Deliveries is what operators and accounting systems do with deliveries after
// intake: resend, send to another contact, and the tenant's delivery settings.
type Deliveries struct {
	store         DeliveriesStore
	checker       SettingsChecker
	messageDomain string
	now           func() time.Time
	log           *slog.Logger
}

func NewDeliveries(store DeliveriesStore, checker SettingsChecker, messageDomain string, now func() time.Time, log *slog.Logger) *Deliveries {
	return &Deliveries{store: store, checker: checker, messageDomain: messageDomain, now: now, log: log}
}

// Resend resolves an unknown_outcome, failed or bounced delivery by sending it again:
// the same archived message (same Message-ID, so a recipient's client can spot a
// duplicate) as a new attempt with its own evidence. Errors: KindNotFound,
// KindConflict.
func (s *Deliveries) Resend(ctx context.Context, tenantID, deliveryID, reason string) (*Delivery, error) {
	if !ValidID("dlv", deliveryID) {
		return nil, Errorf(KindNotFound, "delivery %q not found", deliveryID)
	}
	if len(reason) > 500 || strings.ContainsAny(reason, "\x00") {
		return nil, &Error{Kind: KindInvalid, Message: "the resend request is not valid",
			Fields: []FieldError{{Field: "reason", Code: "invalid", Message: "must be at most 500 characters of text"}}}
	}
	d, err := s.store.TenantDelivery(ctx, tenantID, deliveryID)
	if err != nil {
		return nil, err
	}
	ev := NewEvent(d.InvoiceID, d.ID, EventResendRequested, s.now(), map[string]string{
		"previous_status": string(d.Status), "previous_reply": d.LastReply, "reason": reason,
	})
	out, err := s.store.Resend(ctx, tenantID, deliveryID, ev)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "delivery resend requested", "delivery_id", deliveryID, "previous_status", d.Status)
	return out, nil
}

// Redirect sends the invoice to another contact as a new delivery with its own
// tokens, bounce address and evidence; the invoice's PDF is the archived one.
// Errors: KindInvalid naming the bad fields, KindNotFound.
func (s *Deliveries) Redirect(ctx context.Context, tenantID, invoiceID string, to Contact) (*Delivery, error) {
	var fields []FieldError
	if a, err := mail.ParseAddress(to.Email); err != nil || a.Address != to.Email {
		fields = append(fields, FieldError{Field: "email", Code: "invalid", Message: "must be a bare e-mail address like ap@customer.example"})
	}
	if strings.ContainsAny(to.Name, "\r\n") || len(to.Name) > 200 {
		fields = append(fields, FieldError{Field: "name", Code: "invalid", Message: "must be one line of at most 200 characters"})
	}
	if len(fields) > 0 {
		return nil, &Error{Kind: KindInvalid, Message: "the recipient is not valid", Fields: fields}
	}
	if !ValidID("inv", invoiceID) {
		return nil, Errorf(KindNotFound, "invoice %q not found", invoiceID)
	}
	r, err := s.store.Invoice(ctx, tenantID, invoiceID)
	if err != nil {
		return nil, err
	}
	id := NewID("dlv")
	bounce, err := tracking.NewBounceToken()
	if err != nil {
		return nil, Wrap(KindInternal, err, "could not create the delivery")
	}
	now := s.now().UTC()
	d := Delivery{ID: id, InvoiceID: r.ID, TenantID: tenantID, Recipient: to, Status: StatusQueued,
		MessageID: id + "@" + s.messageDomain, BounceToken: bounce, UpdatedAt: now}
	ev := NewEvent(r.ID, id, EventDeliveryAdded, now, map[string]string{"recipient": to.Email, "name": to.Name})
	if err := s.store.AddDelivery(ctx, d, ev); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "delivery added", "invoice_id", r.ID, "delivery_id", id)
	return &d, nil
}

// Settings returns the tenant's delivery settings without the DKIM private key.
func (s *Deliveries) Settings(ctx context.Context, tenantID string) (DeliverySettings, error) {
	out, err := s.store.DeliverySettings(ctx, tenantID)
	return out.Redacted(), err
}

// SetSettings validates and replaces the tenant's delivery settings. A DKIM section
// without a private key keeps the stored key (the API never returns it). Errors:
// KindInvalid naming every bad field.
func (s *Deliveries) SetSettings(ctx context.Context, tenantID string, in DeliverySettings) (DeliverySettings, error) {
	if in.DKIM != nil && in.DKIM.PrivateKey == "" {
		old, err := s.store.DeliverySettings(ctx, tenantID)
		if err != nil {
			return DeliverySettings{}, err
		}
		if old.DKIM != nil {
			in.DKIM.PrivateKey = old.DKIM.PrivateKey
		}
	}
	if err := in.Validate(s.checker); err != nil {
		return DeliverySettings{}, err
	}
	if err := s.store.SetDeliverySettings(ctx, tenantID, in); err != nil {
		return DeliverySettings{}, err
	}
	return in.Redacted(), nil
}
