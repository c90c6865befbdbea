package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway/evidence"
)

// ProofStore is what reading an invoice's evidence needs from storage.
type ProofStore interface {
	// ProofEvidence returns one of the tenant's invoices with its deliveries, every
	// event in chain order (Seq, PrevHash and Hash filled in), its disputes newest
	// first, and its hit counts: how often each delivery was hit per event type and
	// classification, from the raw tracking hits still kept (only the first hit of
	// each kind and class becomes an event). Errors: KindNotFound, KindUnavailable.
	ProofEvidence(ctx context.Context, tenantID, invoiceID string) (*Record, []Event, []Dispute, []HitCount, error)
	// CheckpointProof returns the latest signed checkpoint that recorded the
	// invoice's chain head, with its inclusion proof; nil when no checkpoint has
	// covered the invoice yet. Errors: KindUnavailable.
	CheckpointProof(ctx context.Context, invoiceID string) (*evidence.CheckpointProof, error)
}

// HitCount is how often a delivery's tracked URLs were hit, per kind and class.
type HitCount struct {
	DeliveryID     string    `json:"delivery_id"`
	EventType      EventType `json:"event_type"`
	Classification string    `json:"classification"`
	Count          int       `json:"count"`
	First          time.Time `json:"first"`
	Last           time.Time `json:"last"`
}

// CertificateRenderer prints the delivery certificate of a bundle. Implemented by render.
type CertificateRenderer interface {
	// RenderCertificate returns the PDF. Errors: KindInternal.
	RenderCertificate(c Certificate) ([]byte, error)
}

// Proofs answers "can you prove we sent it?": the proof view, the signed evidence
// bundle and the public key that verifies it.
type Proofs struct {
	store    ProofStore
	archive  Archive
	cert     CertificateRenderer
	signer   *evidence.Signer
	now      func() time.Time
	log      *slog.Logger
	keepZips bool // archive every bundle handed out (WORM where the bucket allows)
}

// NewProofs returns the proof use cases. Every bundle handed out is also archived
// under the invoice's prefix, so that what a third party received can be shown later.
func NewProofs(store ProofStore, archive Archive, cert CertificateRenderer, signer *evidence.Signer, now func() time.Time, log *slog.Logger) *Proofs {
	return &Proofs{store: store, archive: archive, cert: cert, signer: signer, now: now, log: log, keepZips: true}
}

// PublicKey is the key that verifies bundles and checkpoints.
type PublicKey struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
}

// PublicKey returns the signing key's public half.
func (p *Proofs) PublicKey() PublicKey {
	pub := p.signer.Public()
	return PublicKey{Algorithm: "ed25519", KeyID: evidence.KeyID(pub), PublicKey: evidence.FormatPublicKey(pub)}
}

// Proof is everything the gateway can show about an invoice reaching its recipients.
type Proof struct {
	InvoiceID  string           `json:"invoice_id"`
	Number     string           `json:"number"`
	Status     Status           `json:"status"`
	Customer   string           `json:"customer"`
	Currency   string           `json:"currency"`
	Total      string           `json:"total"`
	AmountDue  string           `json:"amount_due"`
	IssueDate  string           `json:"issue_date"`
	DueDate    string           `json:"due_date"`
	Summary    []string         `json:"summary"` // sentences a collector can read aloud
	Recipients []ProofRecipient `json:"recipients"`
	Timeline   []ProofEvent     `json:"timeline"` // oldest first
	Artefacts  []ProofArtefact  `json:"artefacts"`
	Chain      ProofChain       `json:"chain"`
	Disputes   []Dispute        `json:"disputes"`
	Levels     []LevelMeaning   `json:"levels"`
	// Activity counts every tracked hit still kept (raw hits expire with the
	// tenant's retention; the first of each kind and class is in the timeline for good).
	Activity []HitCount `json:"activity"`

	record *Record
	events []Event
}

// ProofRecipient is one delivery and the strongest evidence reached for it.
type ProofRecipient struct {
	DeliveryID   string    `json:"delivery_id"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Status       Status    `json:"status"`
	HighestLevel int       `json:"highest_level"` // -1 when nothing on the ladder was reached
	HighestEvent EventType `json:"highest_event,omitempty"`
	HighestAt    time.Time `json:"highest_at,omitzero"`
	Summary      string    `json:"summary"`
}

// ProofEvent is one timeline entry with what it is worth.
type ProofEvent struct {
	Seq            int64           `json:"seq,omitempty"`
	Type           EventType       `json:"type"`
	At             time.Time       `json:"at"`
	DeliveryID     string          `json:"delivery_id,omitempty"`
	Level          int             `json:"level"`
	LevelName      string          `json:"level_name"`
	Classification string          `json:"classification,omitempty"` // human | machine, for tracking hits
	Reason         string          `json:"reason,omitempty"`
	Machine        bool            `json:"machine"` // true: a machine did it; it does not count as a person
	Counts         bool            `json:"counts"`  // counts towards the recipient's highest level
	Detail         json.RawMessage `json:"detail"`
	Hash           string          `json:"hash,omitempty"`
}

// ProofArtefact is an archived evidence file.
type ProofArtefact struct {
	Name        string    `json:"name"` // its name in the bundle
	Kind        string    `json:"kind"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ArchiveKey  string    `json:"archive_key"`
	EventSeq    int64     `json:"event_seq,omitempty"`
	EventType   EventType `json:"event_type"`
}

// ProofChain says whether the stored events still form an unbroken hash chain.
type ProofChain struct {
	Algorithm string   `json:"algorithm"`
	Length    int      `json:"length"`
	Head      string   `json:"head"`
	Intact    bool     `json:"intact"`
	Problems  []string `json:"problems,omitempty"`
}

// LevelMeaning says in plain words what one rung of the evidence ladder proves and
// what it does not (DESIGN.md §3).
type LevelMeaning struct {
	Level        int    `json:"level"`
	Name         string `json:"name"`
	Events       string `json:"events"`
	Proves       string `json:"proves"`
	DoesNotProve string `json:"does_not_prove"`
}

// Levels is the evidence ladder in words, for the proof view and the certificate.
var Levels = []LevelMeaning{
	{0, "accepted", "accepted", "Your accounting system handed this invoice to the gateway; the SHA-256 of exactly what it sent is recorded.",
		"Nothing about the customer: the invoice had not left the building."},
	{1, "archived", "rendered, archived", "This exact PDF and e-mail existed and were stored unchanged (their SHA-256 hashes are recorded; WORM storage where the bucket allows).",
		"That anything was sent."},
	{2, "sent", "sent", "Our mail relay accepted the message for delivery; its reply is kept.",
		"That the customer's mail server received it."},
	{3, "delivered", "delivered", "The customer's mail server accepted the message: its SMTP reply, a delivery status notification or the e-mail provider's delivery event.",
		"That a person saw it: it may sit in a spam folder or an unread mailbox."},
	{4, "opened", "opened", "The e-mail's image was loaded; when classified human, most likely by a person opening it.",
		"Much on its own: images may be blocked, and privacy proxies and scanners load them without anyone reading (those are marked machine and not counted)."},
	{5, "viewed", "clicked, viewed, downloaded", "Someone followed the invoice link, viewed the hosted invoice page or downloaded the PDF; security scanners are classified machine and not counted.",
		"Who did it: anyone the e-mail was forwarded to could."},
	{6, "acknowledged", "acknowledged", "A person pressed \"confirm receipt\" on the hosted invoice page and gave their name: the strongest signal.",
		"That they agree with the amount: only that they received it."},
}

// LevelName is the short name of a level, or "none" for outcomes off the ladder.
func LevelName(level int) string {
	if level >= 0 && level < len(Levels) {
		return Levels[level].Name
	}
	return "none"
}

// Proof returns the proof view of one of the tenant's invoices. Errors:
// KindNotFound, KindUnavailable.
func (p *Proofs) Proof(ctx context.Context, tenantID, id string) (*Proof, error) {
	if !ValidID("inv", id) {
		return nil, Errorf(KindNotFound, "invoice %q not found", id)
	}
	r, events, disputes, hits, err := p.store.ProofEvidence(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return BuildProof(r, events, disputes, hits), nil
}

// BuildProof derives the proof view from an invoice, its events in chain order and
// its disputes and hit counts. It is pure, so that the collector workspace can use
// it too.
func BuildProof(r *Record, events []Event, disputes []Dispute, hits []HitCount) *Proof {
	inv := r.Invoice
	pr := &Proof{
		InvoiceID: r.ID, Number: inv.Number, Status: r.Status, Customer: inv.Customer.Name, Currency: inv.Currency,
		Total: r.Totals.Total, AmountDue: r.Totals.AmountDue,
		IssueDate: inv.IssueDate.Format(time.DateOnly), DueDate: inv.DueDate.Format(time.DateOnly),
		Recipients: []ProofRecipient{}, Timeline: []ProofEvent{}, Artefacts: []ProofArtefact{},
		Disputes: disputes, Levels: Levels, Activity: hits, record: r, events: events,
	}
	if pr.Activity == nil {
		pr.Activity = []HitCount{}
	}
	if pr.Disputes == nil {
		pr.Disputes = []Dispute{}
	}
	for _, e := range events {
		pr.Timeline = append(pr.Timeline, timelineEntry(e))
		pr.Artefacts = append(pr.Artefacts, artefactsOf(e)...)
	}
	pr.Chain = checkChain(r.ID, events)
	for _, d := range r.Deliveries {
		pr.Recipients = append(pr.Recipients, recipientProof(d, pr.Timeline, hits))
	}
	pr.Summary = summary(pr)
	return pr
}

func detailMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(raw, &m) // a detail that is not an object simply has no fields
	return m
}

func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func timelineEntry(e Event) ProofEvent {
	d := detailMap(e.Detail)
	pe := ProofEvent{Seq: e.Seq, Type: e.Type, At: e.At.UTC(), DeliveryID: e.DeliveryID, Level: e.Level,
		LevelName: LevelName(e.Level), Classification: str(d, "classification"), Reason: str(d, "reason"),
		Detail: e.Detail, Hash: e.Hash}
	pe.Machine = pe.Classification == "machine"
	pe.Counts = e.Level >= 0 && !pe.Machine
	return pe
}

// checkChain recomputes the chain of the stored events; an altered row in the
// database shows here, not only in a bundle.
func checkChain(invoiceID string, events []Event) ProofChain {
	c := ProofChain{Algorithm: evidence.ChainAlgorithm, Length: len(events), Intact: true}
	chained := make([]evidence.Event, len(events))
	for i, e := range events {
		chained[i] = e.Chained()
	}
	if n := len(events); n > 0 {
		c.Head = events[n-1].Hash
	}
	c.Problems = evidence.CheckChain(invoiceID, chained)
	c.Intact = len(c.Problems) == 0
	return c
}

// Chained is the event as the hash chain sees it.
func (e Event) Chained() evidence.Event {
	return evidence.Event{Seq: e.Seq, InvoiceID: e.InvoiceID, DeliveryID: e.DeliveryID, Type: string(e.Type),
		Level: e.Level, At: e.At, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

// artefactsOf finds the archived files an event references. By convention an
// object in the detail (at any depth) with "key" and "sha256" strings, or a pair of
// fields "<name>_key" and "<name>_sha256", names an archived artefact; adding a new
// kind of evidence needs no change here.
func artefactsOf(e Event) []ProofArtefact {
	var out []ProofArtefact
	var walk func(v any, kind string)
	walk = func(v any, kind string) {
		switch v := v.(type) {
		case map[string]any:
			if key, sum := str(v, "key"), str(v, "sha256"); key != "" && isHex64(sum) {
				out = append(out, newArtefact(e, key, sum, v, str(v, "kind", "name")))
			}
			for k, val := range v {
				if name, ok := strings.CutSuffix(k, "_key"); ok {
					if key, sum := str(v, k), str(v, name+"_sha256"); key != "" && isHex64(sum) {
						out = append(out, newArtefact(e, key, sum, map[string]any{"size": v[name+"_size"], "content_type": v[name+"_content_type"]}, name))
					}
				}
				walk(val, kind)
			}
		case []any:
			for _, x := range v {
				walk(x, kind)
			}
		}
	}
	walk(detailMap(e.Detail), "")
	sort.SliceStable(out, func(i, j int) bool { return out[i].ArchiveKey < out[j].ArchiveKey })
	return out
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func newArtefact(e Event, key, sum string, m map[string]any, kind string) ProofArtefact {
	a := ProofArtefact{ArchiveKey: key, SHA256: sum, EventSeq: e.Seq, EventType: e.Type, ContentType: str(m, "content_type")}
	if n, ok := m["size"].(float64); ok {
		a.Size = int64(n)
	}
	base := path.Base(key)
	a.Name = fmt.Sprintf("evidence/%d-%s", e.Seq, base)
	if a.ContentType == "" {
		a.ContentType = contentTypeOf(base)
	}
	if kind == "" || kind == "raw" {
		src := str(detailMap(e.Detail), "source")
		switch ext := path.Ext(base); {
		case e.Type == EventDisputed:
			kind = "dispute_attachment"
		case ext == ".pdf" && (e.Type == EventArchived || e.Type == EventRendered):
			kind = "invoice_pdf"
		case ext == ".eml" && (e.Type == EventArchived || e.Type == EventSent):
			kind = "message"
		case src == "dsn" || src == "mdn" || src == "smtp":
			kind = "dsn" // a delivery status or disposition notification as received
		case src != "" && src != "direct":
			kind = "provider_payload" // an e-mail provider's webhook body
		case e.Type == EventBounced || e.Type == EventDelivered || e.Type == EventDelayed || e.Type == "read_receipt":
			kind = "dsn"
		default:
			kind = "artefact"
		}
	}
	a.Kind = kind
	return a
}

func contentTypeOf(name string) string {
	switch path.Ext(name) {
	case ".pdf":
		return "application/pdf"
	case ".eml":
		return "message/rfc822"
	case ".json":
		return "application/json"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".txt":
		return "text/plain"
	}
	return "application/octet-stream"
}

func recipientProof(d Delivery, timeline []ProofEvent, hits []HitCount) ProofRecipient {
	rp := ProofRecipient{DeliveryID: d.ID, Name: d.Recipient.Name, Email: d.Recipient.Email, Status: d.Status, HighestLevel: NoLevel}
	for _, e := range timeline {
		if e.DeliveryID != "" && e.DeliveryID != d.ID || !e.Counts {
			continue
		}
		if e.Level > rp.HighestLevel {
			rp.HighestLevel, rp.HighestEvent, rp.HighestAt = e.Level, e.Type, e.At
		}
	}
	rp.Summary = recipientSentence(d, timeline, hits)
	return rp
}

// FormatTime is how proofs print a moment: to the second, in UTC, said so.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

// times says how often, the way a person would read it aloud.
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// recipientSentence tells one recipient's story, strongest facts included.
func recipientSentence(d Delivery, timeline []ProofEvent, hits []HitCount) string {
	var parts []string
	var mine []ProofEvent
	for _, e := range timeline {
		if e.DeliveryID == d.ID {
			mine = append(mine, e)
		}
	}
	first := func(t EventType) (ProofEvent, map[string]any, bool) {
		for _, e := range mine {
			if e.Type == t {
				return e, detailMap(e.Detail), true
			}
		}
		return ProofEvent{}, nil, false
	}
	reply := func(m map[string]any) string {
		if r := str(m, "reply", "smtp_reply", "diagnostic", "diagnostic_code"); r != "" {
			return fmt.Sprintf(", reply '%s'", r)
		}
		return ""
	}
	if e, m, ok := first(EventDelivered); ok {
		where := str(m, "mx_host", "mx", "remote_mta", "host", "mta", "server")
		if where == "" {
			where = "the mail server of " + d.Recipient.Email
		}
		how := ""
		switch src := str(m, "source"); src {
		case "", "direct", "mx", "smtp":
		case "dsn":
			how = " (delivery status notification)"
		default:
			how = " (" + src + " delivery event)"
		}
		parts = append(parts, fmt.Sprintf("delivered to %s at %s%s%s", where, FormatTime(e.At), reply(m), how))
	} else if e, m, ok := first(EventSent); ok {
		parts = append(parts, fmt.Sprintf("handed to our mail relay at %s%s; no delivery confirmation from the recipient's server yet", FormatTime(e.At), reply(m)))
	}
	for _, t := range []EventType{EventBounced, EventFailed, EventUnknownOutcome, EventComplained} {
		if e, m, ok := first(t); ok {
			why := str(m, "reason", "diagnostic", "diagnostic_code", "reply", "error")
			if why != "" {
				why = ": " + why
			}
			parts = append(parts, fmt.Sprintf("%s at %s%s", strings.ReplaceAll(string(t), "_", " "), FormatTime(e.At), why))
		}
	}
	// Raw hit counts when kept, else the events (which hold the first of each class).
	count := func(t EventType) (person, machine int) {
		for _, e := range mine {
			if e.Type == t {
				if e.Machine {
					machine++
				} else {
					person++
				}
			}
		}
		var hp, hm int
		for _, h := range hits {
			if h.DeliveryID == d.ID && h.EventType == t {
				if h.Classification == "machine" {
					hm += h.Count
				} else {
					hp += h.Count
				}
			}
		}
		return max(person, hp), max(machine, hm)
	}
	for _, c := range []struct {
		t    EventType
		verb string
	}{{EventOpened, "opened by a person"}, {EventClicked, "link clicked by a person"}, {EventViewed, "invoice page viewed by a person"}, {EventDownloaded, "PDF downloaded by a person"}} {
		person, machine := count(c.t)
		switch {
		case person > 0 && machine > 0:
			parts = append(parts, fmt.Sprintf("%s %s (and %s by machines such as privacy proxies or scanners, not counted)", c.verb, times(person), times(machine)))
		case person > 0:
			parts = append(parts, fmt.Sprintf("%s %s", c.verb, times(person)))
		case machine > 0:
			parts = append(parts, fmt.Sprintf("%s fetched by machines only (%d, not counted as a person)", strings.TrimSuffix(strings.TrimSuffix(c.verb, " by a person"), " opened"), machine))
		}
	}
	for _, e := range mine {
		if e.Type == "read_receipt" {
			parts = append(parts, "read receipt returned at "+FormatTime(e.At))
			break
		}
	}
	if e, m, ok := first(EventAcknowledged); ok {
		who := str(m, "name", "acknowledged_by")
		if who == "" {
			who = "the recipient"
		}
		parts = append(parts, fmt.Sprintf("receipt confirmed by %s at %s", who, FormatTime(e.At)))
	}
	name := d.Recipient.Email
	if d.Recipient.Name != "" {
		name = d.Recipient.Name + " <" + d.Recipient.Email + ">"
	}
	if len(parts) == 0 {
		return name + ": not sent yet (" + string(d.Status) + ")."
	}
	s := strings.Join(parts, "; ")
	return name + ": " + strings.ToUpper(s[:1]) + s[1:] + "."
}

func summary(pr *Proof) []string {
	var out []string
	r := pr.record
	for _, e := range pr.events {
		if e.Type == EventAccepted {
			out = append(out, fmt.Sprintf("Invoice %s for %s %s was accepted at %s.", pr.Number, pr.Currency, pr.Total, FormatTime(e.At)))
			break
		}
	}
	if r.PDF != nil {
		for _, e := range pr.events {
			if e.Type == EventArchived {
				out = append(out, fmt.Sprintf("Its PDF was archived at %s with SHA-256 %s.", FormatTime(e.At), r.PDF.SHA256))
				break
			}
		}
	}
	for _, rp := range pr.Recipients {
		out = append(out, rp.Summary)
	}
	for _, d := range pr.Disputes {
		if d.Status == DisputeOpen {
			out = append(out, fmt.Sprintf("Open dispute since %s (%s, raised by %s): %s", FormatTime(d.OpenedAt),
				strings.ReplaceAll(string(d.Reason), "_", " "), d.Source, quoteOrNone(d.Note)))
		}
	}
	if !pr.Chain.Intact {
		out = append(out, "Warning: the stored events no longer form an unbroken hash chain; see chain.problems.")
	}
	return out
}

func quoteOrNone(s string) string {
	if s == "" {
		return "no note."
	}
	return "\"" + s + "\""
}

// Certificate is what the delivery certificate prints.
type Certificate struct {
	InvoiceID   string
	Number      string
	Seller      string
	Customer    string
	Amount      string // "EUR 71.36"
	IssueDate   string
	DueDate     string
	GeneratedAt time.Time
	Summary     []string
	Recipients  []ProofRecipient
	Timeline    []ProofEvent
	Levels      []LevelMeaning
	ChainLength int
	ChainHead   string
	KeyID       string
	PublicKey   string
	Artefacts   []ProofArtefact
}

// Bundle builds the signed evidence bundle (a ZIP) of one of the tenant's invoices
// and returns it with its file name. Every artefact is read back from the archive
// and checked against the hash its event recorded: a bundle never carries evidence
// that changed. Errors: KindNotFound, KindUnavailable, KindInternal (an archived
// artefact no longer matches its hash).
func (p *Proofs) Bundle(ctx context.Context, tenantID, id string) ([]byte, string, error) {
	pr, err := p.Proof(ctx, tenantID, id)
	if err != nil {
		return nil, "", err
	}
	if !pr.Chain.Intact {
		return nil, "", &Error{Kind: KindInternal, Message: "the stored events of this invoice no longer form an unbroken hash chain; no bundle is signed over them",
			Err: fmt.Errorf("chain of %s: %s", id, strings.Join(pr.Chain.Problems, "; "))}
	}
	cp, err := p.store.CheckpointProof(ctx, id)
	if err != nil {
		return nil, "", err
	}
	now := evidence.TruncateTime(p.now())
	var members []evidence.Member
	var artefacts []evidence.Artefact
	seen := map[string]bool{}
	for _, a := range pr.Artefacts {
		if seen[a.Name] {
			continue
		}
		seen[a.Name] = true
		data, err := p.archive.Get(ctx, a.ArchiveKey)
		if err != nil {
			return nil, "", err
		}
		if got := sha256Hex(data); got != a.SHA256 {
			return nil, "", &Error{Kind: KindInternal, Message: "an archived evidence file no longer matches the hash recorded for it",
				Err: fmt.Errorf("artefact %s: sha256 %s, recorded %s", a.ArchiveKey, got, a.SHA256)}
		}
		members = append(members, evidence.Member{Name: a.Name, Data: data})
		artefacts = append(artefacts, evidence.Artefact{Name: a.Name, Kind: a.Kind, ContentType: a.ContentType,
			SHA256: a.SHA256, Size: int64(len(data)), ArchiveKey: a.ArchiveKey, EventSeq: a.EventSeq})
	}
	pub := p.PublicKey()
	r := pr.record
	cert, err := p.cert.RenderCertificate(Certificate{
		InvoiceID: r.ID, Number: pr.Number, Seller: r.Invoice.Seller.Name, Customer: pr.Customer,
		Amount: pr.Currency + " " + pr.Total, IssueDate: pr.IssueDate, DueDate: pr.DueDate, GeneratedAt: now,
		Summary: pr.Summary, Recipients: pr.Recipients, Timeline: pr.Timeline, Levels: Levels,
		ChainLength: pr.Chain.Length, ChainHead: pr.Chain.Head, KeyID: pub.KeyID, PublicKey: pub.PublicKey, Artefacts: pr.Artefacts,
	})
	if err != nil {
		return nil, "", err
	}
	members = append([]evidence.Member{{Name: "certificate.pdf", Data: cert}}, members...)
	artefacts = append([]evidence.Artefact{{Name: "certificate.pdf", Kind: "certificate", ContentType: "application/pdf",
		SHA256: sha256Hex(cert), Size: int64(len(cert))}}, artefacts...)

	m := &evidence.Manifest{
		Format: evidence.Format, GeneratedAt: now,
		Invoice: evidence.Invoice{ID: r.ID, Number: pr.Number, Seller: r.Invoice.Seller.Name, Customer: pr.Customer,
			Currency: pr.Currency, Total: pr.Total, AmountDue: pr.AmountDue, IssueDate: pr.IssueDate, DueDate: pr.DueDate,
			Status: string(pr.Status), PayloadSHA256: r.PayloadSHA256, TermsSHA256: r.TermsSHA256},
		Summary:    pr.Summary,
		Chain:      evidence.Chain{Algorithm: evidence.ChainAlgorithm, Length: pr.Chain.Length, Head: pr.Chain.Head},
		Checkpoint: cp,
		Artefacts:  artefacts,
		Levels:     map[string]string{},
	}
	for _, rp := range pr.Recipients {
		m.Recipients = append(m.Recipients, evidence.Recipient{DeliveryID: rp.DeliveryID, Name: rp.Name, Email: rp.Email,
			Status: string(rp.Status), HighestLevel: rp.HighestLevel, HighestEvent: string(rp.HighestEvent)})
	}
	for _, e := range pr.events {
		m.Events = append(m.Events, e.Chained())
	}
	for _, d := range pr.Disputes {
		m.Disputes = append(m.Disputes, evidence.Dispute{ID: d.ID, Reason: string(d.Reason), Note: d.Note, Source: string(d.Source),
			Status: d.Status, OpenedAt: d.OpenedAt, ResolvedAt: d.ResolvedAt, Resolution: strings.TrimSpace(string(d.Outcome) + " " + d.Resolution)})
	}
	for _, l := range Levels {
		m.Levels[fmt.Sprint(l.Level)] = fmt.Sprintf("%s (%s): proves: %s Does not prove: %s", l.Name, l.Events, l.Proves, l.DoesNotProve)
	}
	if err := m.Sign(p.signer); err != nil {
		return nil, "", Wrap(KindInternal, err, "the proof bundle could not be signed")
	}
	var buf bytes.Buffer
	if err := evidence.WriteBundle(&buf, m, members); err != nil {
		return nil, "", Wrap(KindInternal, err, "the proof bundle could not be written")
	}
	if p.keepZips {
		key := InvoicePrefix(tenantID, id) + "proof/" + now.Format("20060102T150405.000000Z") + ".zip"
		if err := p.archive.Put(ctx, key, "application/zip", buf.Bytes()); err != nil {
			// The bundle verifies on its own; keeping a copy is for later reference only.
			p.log.WarnContext(ctx, "proof bundle not archived", "invoice_id", id, "err", err)
		}
	}
	return buf.Bytes(), "proof-" + strings.TrimSuffix(PDFFilename(pr.Number), ".pdf")[len("invoice-"):] + ".zip", nil
}
