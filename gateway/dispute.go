package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DisputeReason is why a customer queries an invoice.
type DisputeReason string

const (
	DisputeNotReceived       DisputeReason = "not_received"
	DisputeWrongAmount       DisputeReason = "wrong_amount"
	DisputeGoodsNotDelivered DisputeReason = "goods_not_delivered"
	DisputeQuality           DisputeReason = "quality"
	DisputeOther             DisputeReason = "other"
)

// DisputeReasons lists every reason, in the order forms offer them.
var DisputeReasons = []DisputeReason{DisputeNotReceived, DisputeWrongAmount, DisputeGoodsNotDelivered, DisputeQuality, DisputeOther}

// DisputeSource says who raised a dispute.
type DisputeSource string

const (
	DisputeFromAPI       DisputeSource = "api"       // the accounting system, with an API key
	DisputeFromCollector DisputeSource = "collector" // a collector in the workspace
	DisputeFromRecipient DisputeSource = "recipient" // the recipient, via "Raise a query" on the hosted page
)

// DisputeOutcome is how a dispute was closed.
type DisputeOutcome string

const (
	OutcomeResent    DisputeOutcome = "resent"    // the invoice was sent again
	OutcomeCorrected DisputeOutcome = "corrected" // a credit note or corrected invoice was issued
	OutcomeRejected  DisputeOutcome = "rejected"  // the evidence stands; the invoice is due as it is
	OutcomeWithdrawn DisputeOutcome = "withdrawn" // the customer withdrew the query
	OutcomeOther     DisputeOutcome = "other"
)

// DisputeOutcomes lists every outcome.
var DisputeOutcomes = []DisputeOutcome{OutcomeResent, OutcomeCorrected, OutcomeRejected, OutcomeWithdrawn, OutcomeOther}

// Dispute statuses.
const (
	DisputeOpen     = "open"
	DisputeResolved = "resolved"
)

// Dispute is a customer's query about one invoice, kept with the invoice's evidence.
type Dispute struct {
	ID          string         `json:"id"`
	InvoiceID   string         `json:"invoice_id"`
	TenantID    string         `json:"-"`
	DeliveryID  string         `json:"delivery_id,omitempty"` // the recipient's delivery, when raised on the hosted page
	Reason      DisputeReason  `json:"reason"`
	Note        string         `json:"note"`
	Source      DisputeSource  `json:"source"`
	OpenedBy    string         `json:"opened_by,omitempty"` // a name or e-mail, as the source gave it
	Status      string         `json:"status"`              // open | resolved
	Attachments []DisputeFile  `json:"attachments"`
	OpenedAt    time.Time      `json:"opened_at"`
	ResolvedAt  *time.Time     `json:"resolved_at,omitempty"`
	Outcome     DisputeOutcome `json:"outcome,omitempty"`
	Resolution  string         `json:"resolution,omitempty"` // the resolver's note
	ResolvedBy  string         `json:"resolved_by,omitempty"`
}

// DisputeFile is an archived attachment of a dispute.
type DisputeFile struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Key         string `json:"key"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
}

// DisputeInput is a new dispute as a caller sends it.
type DisputeInput struct {
	Reason      DisputeReason
	Note        string
	Attachments []FileInput
	Source      DisputeSource
	OpenedBy    string
	DeliveryID  string // optional
}

// FileInput is an uploaded file, already decoded.
type FileInput struct {
	Filename string
	Data     []byte
}

// ResolveInput closes a dispute.
type ResolveInput struct {
	Outcome    DisputeOutcome
	Note       string
	ResolvedBy string
}

// Limits on disputes, checked before anything is stored.
const (
	maxDisputeNote        = 4000
	maxDisputeAttachments = 5
	maxDisputeFileSize    = 5 << 20
)

// DisputeStore is what disputes need from storage.
type DisputeStore interface {
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
	// CreateDispute stores d and appends ev to its invoice's chain, atomically.
	// Errors: KindNotFound (no such invoice for d.TenantID), KindUnavailable.
	CreateDispute(ctx context.Context, d *Dispute, ev Event) error
	// ResolveDispute marks an open dispute resolved with d's resolution fields and
	// appends ev, atomically. Errors: KindConflict (not open any more), KindNotFound,
	// KindUnavailable.
	ResolveDispute(ctx context.Context, d *Dispute, ev Event) error
	// Dispute returns one of the tenant's disputes. Errors: KindNotFound, KindUnavailable.
	Dispute(ctx context.Context, tenantID, id string) (*Dispute, error)
	// Disputes returns an invoice's disputes, newest first. Errors: KindNotFound
	// (no such invoice for the tenant), KindUnavailable.
	Disputes(ctx context.Context, tenantID, invoiceID string) ([]Dispute, error)
}

// LegalHolder puts the archived objects of an invoice under legal hold while a
// dispute is open. Implemented by storage/archive.
type LegalHolder interface {
	// SetLegalHold turns the hold on or off for every object under prefix. On a bucket
	// without Object Lock it does nothing and returns nil. Errors: KindUnavailable.
	SetLegalHold(ctx context.Context, prefix string, on bool) error
}

// Disputes records customers' queries about invoices and their resolution. An open
// dispute shows on the invoice, in its timeline (disputed, dispute_resolved events)
// and keeps the invoice's archived evidence under legal hold.
type Disputes struct {
	store   DisputeStore
	archive Archive
	hold    LegalHolder // nil: no legal holds
	now     func() time.Time
	log     *slog.Logger
}

// NewDisputes returns the dispute use cases. hold may be nil.
func NewDisputes(store DisputeStore, archive Archive, hold LegalHolder, now func() time.Time, log *slog.Logger) *Disputes {
	return &Disputes{store: store, archive: archive, hold: hold, now: now, log: log}
}

// InvoicePrefix is the archive prefix under which every object of an invoice lives.
func InvoicePrefix(tenantID, invoiceID string) string {
	return fmt.Sprintf("tenants/%s/invoices/%s/", tenantID, invoiceID)
}

// Open records a new dispute on one of the tenant's invoices. Errors: KindInvalid
// (naming every bad field), KindNotFound, KindUnavailable.
func (ds *Disputes) Open(ctx context.Context, tenantID, invoiceID string, in DisputeInput) (*Dispute, error) {
	if !ValidID("inv", invoiceID) {
		return nil, Errorf(KindNotFound, "invoice %q not found", invoiceID)
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if _, err := ds.store.Invoice(ctx, tenantID, invoiceID); err != nil {
		return nil, err
	}
	now := ds.now().UTC()
	d := &Dispute{ID: NewID("dsp"), InvoiceID: invoiceID, TenantID: tenantID, DeliveryID: in.DeliveryID,
		Reason: in.Reason, Note: strings.TrimSpace(in.Note), Source: in.Source, OpenedBy: strings.TrimSpace(in.OpenedBy),
		Status: DisputeOpen, Attachments: []DisputeFile{}, OpenedAt: now}
	for i, f := range in.Attachments {
		name := safeFilename(f.Filename, i)
		file := DisputeFile{Filename: name, ContentType: http.DetectContentType(f.Data),
			Key:    fmt.Sprintf("%sdisputes/%s/%d-%s", InvoicePrefix(tenantID, invoiceID), d.ID, i+1, name),
			SHA256: sha256Hex(f.Data), Size: int64(len(f.Data))}
		// Archived before the event that records their hashes commits: an event never
		// points at an object that does not exist.
		if err := ds.archive.Put(ctx, file.Key, file.ContentType, f.Data); err != nil {
			return nil, err
		}
		d.Attachments = append(d.Attachments, file)
	}
	ev := NewEvent(invoiceID, d.DeliveryID, EventDisputed, now, map[string]any{
		"dispute_id": d.ID, "reason": d.Reason, "note": d.Note, "source": d.Source, "opened_by": d.OpenedBy,
		"attachments": d.Attachments,
	})
	if err := ds.store.CreateDispute(ctx, d, ev); err != nil {
		return nil, err
	}
	ds.log.InfoContext(ctx, "dispute opened", "invoice_id", invoiceID, "dispute_id", d.ID, "reason", d.Reason, "source", d.Source)
	ds.setHold(ctx, tenantID, invoiceID, true)
	return d, nil
}

// RaiseQuery records a query the recipient sent from the hosted invoice page as a
// dispute (source "recipient", reason "other"); tok is the page's resolved token.
// Errors: KindInvalid, KindNotFound, KindUnavailable.
func (ds *Disputes) RaiseQuery(ctx context.Context, tok Token, name, message string) error {
	_, err := ds.Open(ctx, tok.TenantID, tok.InvoiceID, DisputeInput{Reason: DisputeOther, Note: message,
		Source: DisputeFromRecipient, OpenedBy: name, DeliveryID: tok.DeliveryID})
	return err
}

// Resolve closes an open dispute. Errors: KindInvalid, KindNotFound, KindConflict
// (already resolved), KindUnavailable.
func (ds *Disputes) Resolve(ctx context.Context, tenantID, disputeID string, in ResolveInput) (*Dispute, error) {
	if !ValidID("dsp", disputeID) {
		return nil, Errorf(KindNotFound, "dispute %q not found", disputeID)
	}
	var p Problems
	if !slices.Contains(DisputeOutcomes, in.Outcome) {
		p.Add("outcome", "invalid", fmt.Sprintf("outcome must be one of %s", joinOutcomes()))
	}
	if utf8.RuneCountInString(in.Note) > maxDisputeNote {
		p.Add("note", "too_long", fmt.Sprintf("note must be at most %d characters", maxDisputeNote))
	}
	if err := p.Err("the resolution is invalid"); err != nil {
		return nil, err
	}
	d, err := ds.store.Dispute(ctx, tenantID, disputeID)
	if err != nil {
		return nil, err
	}
	if d.Status != DisputeOpen {
		return nil, Errorf(KindConflict, "dispute %s is already resolved", disputeID)
	}
	now := ds.now().UTC()
	d.Status, d.ResolvedAt, d.Outcome, d.Resolution, d.ResolvedBy = DisputeResolved, &now, in.Outcome, strings.TrimSpace(in.Note), strings.TrimSpace(in.ResolvedBy)
	ev := NewEvent(d.InvoiceID, "", EventDisputeResolved, now, map[string]any{
		"dispute_id": d.ID, "outcome": d.Outcome, "note": d.Resolution, "resolved_by": d.ResolvedBy,
	})
	if err := ds.store.ResolveDispute(ctx, d, ev); err != nil {
		return nil, err
	}
	ds.log.InfoContext(ctx, "dispute resolved", "invoice_id", d.InvoiceID, "dispute_id", d.ID, "outcome", d.Outcome)
	others, err := ds.store.Disputes(ctx, tenantID, d.InvoiceID)
	if err != nil {
		ds.log.ErrorContext(ctx, "legal hold kept: open disputes unknown", "invoice_id", d.InvoiceID, "err", err)
		return d, nil
	}
	if !slices.ContainsFunc(others, func(o Dispute) bool { return o.Status == DisputeOpen }) {
		ds.setHold(ctx, tenantID, d.InvoiceID, false)
	}
	return d, nil
}

// Dispute returns one of the tenant's disputes. Errors: KindNotFound, KindUnavailable.
func (ds *Disputes) Dispute(ctx context.Context, tenantID, disputeID string) (*Dispute, error) {
	if !ValidID("dsp", disputeID) {
		return nil, Errorf(KindNotFound, "dispute %q not found", disputeID)
	}
	return ds.store.Dispute(ctx, tenantID, disputeID)
}

// List returns an invoice's disputes, newest first. Errors: KindNotFound, KindUnavailable.
func (ds *Disputes) List(ctx context.Context, tenantID, invoiceID string) ([]Dispute, error) {
	if !ValidID("inv", invoiceID) {
		return nil, Errorf(KindNotFound, "invoice %q not found", invoiceID)
	}
	return ds.store.Disputes(ctx, tenantID, invoiceID)
}

// setHold is best effort: the dispute is recorded whether or not the store could
// hold the objects, and a failure is logged for the operator to repeat.
func (ds *Disputes) setHold(ctx context.Context, tenantID, invoiceID string, on bool) {
	if ds.hold == nil {
		return
	}
	if err := ds.hold.SetLegalHold(ctx, InvoicePrefix(tenantID, invoiceID), on); err != nil {
		ds.log.ErrorContext(ctx, "legal hold not changed", "invoice_id", invoiceID, "on", on, "err", err)
	}
}

func (in DisputeInput) validate() error {
	var p Problems
	if !slices.Contains(DisputeReasons, in.Reason) {
		p.Add("reason", "invalid", fmt.Sprintf("reason must be one of %s", joinReasons()))
	}
	switch in.Source {
	case DisputeFromAPI, DisputeFromCollector, DisputeFromRecipient:
	default:
		p.Add("source", "invalid", "source must be api, collector or recipient")
	}
	if in.Source == DisputeFromRecipient && strings.TrimSpace(in.Note) == "" {
		p.Add("message", "required", "write what your query is about")
	}
	if utf8.RuneCountInString(in.Note) > maxDisputeNote {
		p.Add("note", "too_long", fmt.Sprintf("note must be at most %d characters", maxDisputeNote))
	}
	if !utf8.ValidString(in.Note) || !utf8.ValidString(in.OpenedBy) {
		p.Add("note", "invalid", "text must be UTF-8")
	}
	if len(in.Attachments) > maxDisputeAttachments {
		p.Add("attachments", "too_many", fmt.Sprintf("at most %d attachments", maxDisputeAttachments))
	}
	for i, f := range in.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		switch ct := http.DetectContentType(f.Data); {
		case len(f.Data) == 0:
			p.Add(field+".data", "required", "the attachment is empty")
		case len(f.Data) > maxDisputeFileSize:
			p.Add(field+".data", "too_large", "each attachment must be at most 5 MiB")
		case ct != "application/pdf" && ct != "image/png" && ct != "image/jpeg":
			p.Add(field+".data", "unsupported_type", "attachments must be PDF, PNG or JPEG; got "+ct)
		}
		if strings.TrimSpace(f.Filename) == "" {
			p.Add(field+".filename", "required", "give the attachment a file name")
		}
	}
	return p.Err("the dispute is invalid")
}

func joinReasons() string {
	s := make([]string, len(DisputeReasons))
	for i, r := range DisputeReasons {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func joinOutcomes() string {
	s := make([]string, len(DisputeOutcomes))
	for i, r := range DisputeOutcomes {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeFilename keeps archive keys and ZIP member names plain.
func safeFilename(name string, i int) string {
	s := strings.Trim(unsafeFileChars.ReplaceAllString(name, "_"), "._")
	if s == "" {
		s = fmt.Sprintf("attachment-%d", i+1)
	}
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}

// disputeRequest is the JSON body of a new dispute.
type disputeRequest struct {
	Reason      DisputeReason `json:"reason"`
	Note        string        `json:"note"`
	OpenedBy    string        `json:"opened_by"`
	Attachments []struct {
		Filename string `json:"filename"`
		Data     string `json:"data"` // base64
	} `json:"attachments"`
}

// DecodeDispute parses a new dispute's JSON body. Syntax errors are KindMalformed;
// bad base64 is KindInvalid naming the attachment. Values are checked by Open.
func DecodeDispute(body []byte, source DisputeSource) (DisputeInput, error) {
	var req disputeRequest
	if err := decodeStrict(body, &req); err != nil {
		return DisputeInput{}, err
	}
	in := DisputeInput{Reason: req.Reason, Note: req.Note, OpenedBy: req.OpenedBy, Source: source}
	var p Problems
	for i, a := range req.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			p.Add(fmt.Sprintf("attachments[%d].data", i), "invalid_base64", "data must be the file's bytes in standard base64")
			continue
		}
		in.Attachments = append(in.Attachments, FileInput{Filename: a.Filename, Data: data})
	}
	return in, p.Err("the dispute is invalid")
}

// resolveRequest is the JSON body of a resolution.
type resolveRequest struct {
	Outcome    DisputeOutcome `json:"outcome"`
	Note       string         `json:"note"`
	ResolvedBy string         `json:"resolved_by"`
}

// DecodeResolve parses a resolution's JSON body.
func DecodeResolve(body []byte) (ResolveInput, error) {
	var req resolveRequest
	if err := decodeStrict(body, &req); err != nil {
		return ResolveInput{}, err
	}
	return ResolveInput(req), nil
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Kind: KindMalformed, Message: "the body must hold exactly one JSON object; found more after it"}
	}
	return nil
}

// The hosted page's "Raise a query" lands here as a dispute from the recipient.
var _ QueryRecorder = (*Disputes)(nil)
