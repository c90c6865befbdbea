package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// IntakeStore is what accepting and reading invoices needs from storage.
type IntakeStore interface {
	// AcceptInvoice stores r, its deliveries, its attachments and its events, and
	// enqueues their delivery jobs, atomically. With idem set, the idempotency record
	// is written in the same transaction; when the key was already used the stored
	// answer is returned instead (replay) and nothing is written. Errors: KindConflict
	// (number already used, with Detail["invoice_id"]), KindIdempotencyInUse,
	// KindIdempotencyMismatch, KindUnavailable.
	AcceptInvoice(ctx context.Context, r *Record, events []Event, idem *IdempotencyRecord) (replay *IdempotencyRecord, err error)
	// CreateInvoices stores many accepted invoices in one transaction. An invoice
	// whose number the tenant already used is not stored; its slot in existing holds
	// the id and payload hash of the invoice that has the number. Errors: KindUnavailable.
	CreateInvoices(ctx context.Context, rs []*Record, events [][]Event) (existing []ExistingInvoice, err error)
	// LookupIdempotency returns a finished idempotency record, or nil. Errors: KindUnavailable.
	LookupIdempotency(ctx context.Context, tenantID, key string) (*IdempotencyRecord, error)
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
	// ListInvoices returns one page of the tenant's invoices, newest first, and
	// whether more follow. Errors: KindUnavailable.
	ListInvoices(ctx context.Context, tenantID string, q ListQuery, today time.Time) ([]*Record, bool, error)
	// Events returns an invoice's timeline, oldest first. Errors: KindNotFound, KindUnavailable.
	Events(ctx context.Context, tenantID, invoiceID string) ([]Event, error)
	// AddAttachment records one more archived proof document and its event.
	// Errors: KindNotFound, KindUnavailable.
	AddAttachment(ctx context.Context, tenantID, invoiceID string, a *ProofDocument, e Event) error
	// Attachments lists an invoice's proof documents. Errors: KindUnavailable.
	Attachments(ctx context.Context, invoiceID string) ([]ProofDocument, error)
	// TermsStore is embedded: terms resolution is part of intake.
	TermsStore
}

// IdempotencyRecord is the answer given to the first request that carried an
// Idempotency-Key, kept to be replayed to its retries.
type IdempotencyRecord struct {
	TenantID      string
	Key           string
	RequestSHA256 string
	Status        int
	Response      []byte
	InvoiceID     string
}

// ExistingInvoice names an invoice that already holds a number.
type ExistingInvoice struct {
	ID            string
	PayloadSHA256 string
}

// ProofDocument is an archived proof-of-delivery document of an invoice.
type ProofDocument struct {
	N           int       `json:"n"`
	Filename    string    `json:"filename"`
	Description string    `json:"description,omitempty"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Key         string    `json:"key"`
	CreatedAt   time.Time `json:"created_at"`
}

// Kinds for the Idempotency-Key protocol (draft-ietf-httpapi-idempotency-key-header).
const (
	// KindIdempotencyInUse: a request with this key is still being processed (409).
	KindIdempotencyInUse Kind = "idempotency_in_use"
	// KindIdempotencyMismatch: the key was used with a different body (422).
	KindIdempotencyMismatch Kind = "idempotency_mismatch"
)

// MaxIdempotencyKeyLen bounds the Idempotency-Key header (Stripe allows 255).
const MaxIdempotencyKeyLen = 255

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

// AcceptOptions carry what the HTTP layer adds to a POST.
type AcceptOptions struct {
	// IdempotencyKey is the client's Idempotency-Key header, or "".
	IdempotencyKey string
	// Encode turns the accepted record into the response body kept for replays. It
	// runs before the transaction commits, so that the key and the invoice are
	// stored together or not at all.
	Encode func(*Record) ([]byte, error)
}

// Accepted is the outcome of Accept: a new invoice, or the replay of the answer
// given to an earlier request with the same Idempotency-Key.
type Accepted struct {
	Record *Record            // nil on a replay
	Replay *IdempotencyRecord // nil unless replayed
}

// Accept validates an invoice body, resolves its terms, archives its attachments and
// stores it with its delivery enqueued. Nothing is stored when anything is wrong.
func (in *Intake) Accept(ctx context.Context, tenant Tenant, body []byte, opt AcceptOptions) (*Accepted, error) {
	if err := checkIdempotencyKey(opt.IdempotencyKey); err != nil {
		return nil, err
	}
	r, events, err := in.prepare(ctx, tenant, body)
	if err != nil {
		return nil, err
	}
	var idem *IdempotencyRecord
	if opt.IdempotencyKey != "" {
		// Attachments go to the archive before the transaction: look first so that a
		// plain retry does not archive them a second time.
		if len(r.Invoice.Attachments) > 0 {
			prev, err := in.store.LookupIdempotency(ctx, tenant.ID, opt.IdempotencyKey)
			if err != nil {
				return nil, err
			}
			if prev != nil {
				return replayOf(prev, r.PayloadSHA256)
			}
		}
		idem = &IdempotencyRecord{TenantID: tenant.ID, Key: opt.IdempotencyKey, RequestSHA256: r.PayloadSHA256, Status: 202, InvoiceID: r.ID}
	}
	archived, err := in.archiveAttachments(ctx, r)
	if err != nil {
		return nil, err
	}
	events = append(events, archived...)
	if idem != nil && opt.Encode != nil {
		if idem.Response, err = opt.Encode(r); err != nil {
			return nil, Wrap(KindInternal, err, "encode response")
		}
	}
	if idem != nil && idem.Response == nil {
		idem.Response = []byte{} // the column is NOT NULL; a caller without Encode replays an empty body
	}
	replay, err := in.store.AcceptInvoice(ctx, r, events, idem)
	if err != nil {
		return nil, err
	}
	if replay != nil {
		return replayOf(replay, r.PayloadSHA256)
	}
	in.log.InfoContext(ctx, "invoice accepted", "invoice_id", r.ID, "tenant_id", tenant.ID, "number", r.Invoice.Number)
	return &Accepted{Record: r}, nil
}

func replayOf(prev *IdempotencyRecord, requestSHA256 string) (*Accepted, error) {
	if prev.RequestSHA256 != requestSHA256 {
		return nil, &Error{Kind: KindIdempotencyMismatch,
			Message: "this Idempotency-Key was already used with a different request body; use a new key for a new request",
			Detail:  map[string]string{"invoice_id": prev.InvoiceID}}
	}
	return &Accepted{Replay: prev}, nil
}

func checkIdempotencyKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) > MaxIdempotencyKeyLen || strings.IndexFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return &Error{Kind: KindInvalid, Message: "the Idempotency-Key header is invalid",
			Fields: []FieldError{{Field: "Idempotency-Key", Code: "invalid_idempotency_key",
				Message: fmt.Sprintf("the Idempotency-Key must be 1 to %d visible ASCII characters, e.g. a UUID", MaxIdempotencyKeyLen)}}}
	}
	return nil
}

// prepare decodes, validates and resolves one invoice into a record with its
// deliveries and accepted event; nothing is stored.
func (in *Intake) prepare(ctx context.Context, tenant Tenant, body []byte) (*Record, []Event, error) {
	inv, err := DecodeInvoice(body)
	if err != nil {
		return nil, nil, err
	}
	totals, err := inv.Validate()
	if err != nil {
		return nil, nil, err
	}
	terms, err := in.resolveTerms(ctx, tenant.ID, inv)
	if err != nil {
		return nil, nil, err
	}
	return in.newRecord(tenant, inv, totals, terms, sha256Hex(body))
}

func (in *Intake) newRecord(tenant Tenant, inv *Invoice, totals Totals, terms ResolvedTerms, payloadSHA string) (*Record, []Event, error) {
	now := in.now().UTC()
	r := &Record{
		ID:            NewID("inv"),
		TenantID:      tenant.ID,
		Invoice:       *inv,
		Totals:        totals,
		Terms:         terms.Text,
		TermsSHA256:   terms.SHA256,
		TermsVersion:  terms.VersionID,
		TermsSource:   terms.Source,
		PayloadSHA256: payloadSHA,
		Status:        StatusQueued,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// One delivery per recipient: the named contact first (the invoice's status is
	// its), then each cc, each with its own tokens and evidence.
	for _, to := range append([]Contact{inv.Customer.Contact}, inv.Customer.CC...) {
		d, err := in.newDelivery(r, to, now)
		if err != nil {
			return nil, nil, err
		}
		r.Deliveries = append(r.Deliveries, d)
	}
	accepted := NewEvent(r.ID, "", EventAccepted, now, map[string]string{
		"payload_sha256": r.PayloadSHA256,
		"number":         inv.Number,
		"total":          totals.Total,
		"currency":       inv.Currency,
		"terms_sha256":   r.TermsSHA256,
		"terms_version":  r.TermsVersion,
		"terms_source":   r.TermsSource,
	})
	return r, []Event{accepted}, nil
}

// archiveAttachments puts each attachment's bytes in the archive, fills in its
// reference and drops the bytes from the record: the database keeps the hash and
// the key, the archive keeps the evidence. It returns one archived event each.
func (in *Intake) archiveAttachments(ctx context.Context, r *Record) ([]Event, error) {
	var events []Event
	for i := range r.Invoice.Attachments {
		a := &r.Invoice.Attachments[i]
		data := a.Data.Bytes
		a.StoredType = sniffContentType(data)
		a.SHA256 = sha256Hex(data)
		a.Size = int64(len(data))
		a.Key = attachmentKey(r.TenantID, r.ID, i+1, a.Filename)
		if err := in.archive.Put(ctx, a.Key, a.StoredType, data); err != nil {
			return nil, err
		}
		a.Data = Blob{}
		events = append(events, archivedAttachmentEvent(r.ID, a.Key, a.SHA256, a.Size, a.StoredType, a.Filename, in.now()))
	}
	return events, nil
}

func attachmentKey(tenantID, invoiceID string, n int, filename string) string {
	return fmt.Sprintf("tenants/%s/invoices/%s/attachments/%d-%s", tenantID, invoiceID, n, unsafeFilename.ReplaceAllString(filename, "_"))
}

func archivedAttachmentEvent(invoiceID, key, sha string, size int64, contentType, filename string, at time.Time) Event {
	return NewEvent(invoiceID, "", EventArchived, at, map[string]string{
		"key": key, "sha256": sha, "size": strconv.FormatInt(size, 10), "content_type": contentType,
		"filename": filename, "kind": "attachment",
	})
}

// AddAttachment archives one more proof-of-delivery document for an invoice.
func (in *Intake) AddAttachment(ctx context.Context, tenantID, invoiceID, filename, description string, data []byte) (*ProofDocument, error) {
	if !ValidID("inv", invoiceID) {
		return nil, Errorf(KindNotFound, "invoice %q not found", invoiceID)
	}
	var p Problems
	CheckFilename(&p, "filename", filename)
	optionalText(&p, "description", description, maxTextLen)
	ct, ok := CheckAttachmentContent(data)
	switch {
	case len(data) == 0:
		p.Add("file", "required", "send the document in the multipart field \"file\"")
	case len(data) > MaxAttachmentBytes:
		p.Add("file", "too_large", fmt.Sprintf("an attachment may be at most %d MiB", MaxAttachmentBytes>>20))
	case !ok:
		p.Add("file", "unsupported_type", "attachments must be PDF, PNG or JPEG; the content looks like "+ct)
	}
	if err := p.Err("the attachment has invalid fields"); err != nil {
		return nil, err
	}
	// The invoice must exist for this tenant before anything is archived.
	existing, err := in.store.Attachments(ctx, invoiceID)
	if err != nil {
		return nil, err
	}
	if _, err := in.store.Invoice(ctx, tenantID, invoiceID); err != nil {
		return nil, err
	}
	if len(existing) >= 100 {
		return nil, Errorf(KindConflict, "invoice %s already has %d attachments, the most it can hold", invoiceID, len(existing))
	}
	n := len(existing) + 1
	a := &ProofDocument{N: n, Filename: filename, Description: description, ContentType: ct, Size: int64(len(data)),
		SHA256: sha256Hex(data), Key: attachmentKey(tenantID, invoiceID, n, filename), CreatedAt: in.now().UTC()}
	if err := in.archive.Put(ctx, a.Key, ct, data); err != nil {
		return nil, err
	}
	e := archivedAttachmentEvent(invoiceID, a.Key, a.SHA256, a.Size, ct, filename, a.CreatedAt)
	if err := in.store.AddAttachment(ctx, tenantID, invoiceID, a, e); err != nil {
		return nil, err
	}
	return a, nil
}

// Attachments lists an invoice's proof documents.
func (in *Intake) Attachments(ctx context.Context, invoiceID string) ([]ProofDocument, error) {
	return in.store.Attachments(ctx, invoiceID)
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

// List returns one page of the tenant's invoices.
func (in *Intake) List(ctx context.Context, tenantID string, q ListQuery) ([]*Record, bool, error) {
	return in.store.ListInvoices(ctx, tenantID, q, NewDate(in.now()).Time)
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
