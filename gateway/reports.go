package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// EventReadReceipt is an RFC 8098 disposition notification from the recipient's
// mail program; EventRelayed is a DSN saying the message was handed to a server
// that reports no further (weaker than delivered, so it moves nothing).
const (
	EventReadReceipt EventType = "read_receipt"
	EventRelayed     EventType = "relayed"
)

// Report outcomes: what became of one inbound report.
const (
	ReportRecorded     = "recorded"      // an event was recorded on its delivery
	ReportUnknown      = "unknown_token" // no delivery matches: kept for an operator
	ReportUnclassified = "unclassified"  // a delivery matched but the message says nothing readable
	ReportDuplicate    = "duplicate"     // seen before (same bytes, or the same provider event id)
)

// InboundReport is one delivery report as received, kept whether or not it could be
// tied to a delivery: a report for an unknown token is an operator's problem, not
// something to drop.
type InboundReport struct {
	ID         string      `json:"id"`
	Source     string      `json:"source"`    // smtp, ses, postmark, mailgun, sendgrid
	DedupKey   string      `json:"dedup_key"` // smtp:<sha256>:<token> or <provider>:<event id>
	Outcome    string      `json:"outcome"`
	Kind       dsn.Kind    `json:"kind"`
	Token      string      `json:"token,omitempty"`
	MessageID  string      `json:"message_id,omitempty"`
	TenantID   string      `json:"tenant_id,omitempty"`
	InvoiceID  string      `json:"invoice_id,omitempty"`
	DeliveryID string      `json:"delivery_id,omitempty"`
	MailFrom   string      `json:"mail_from,omitempty"`
	RcptTo     string      `json:"rcpt_to,omitempty"`
	RemoteAddr string      `json:"remote_addr,omitempty"`
	Raw        *Object     `json:"raw,omitempty"`
	Summary    *dsn.Report `json:"summary,omitempty"`
	ReceivedAt time.Time   `json:"received_at"`
}

// ReportStore is what recording delivery reports needs from storage.
type ReportStore interface {
	// DeliveryByBounceToken finds the delivery whose envelope sender carried token.
	// Errors: KindNotFound, KindUnavailable.
	DeliveryByBounceToken(ctx context.Context, token string) (*Delivery, error)
	// DeliveryByMessageID finds the delivery whose message had this Message-ID
	// (without angle brackets). Errors: KindNotFound, KindUnavailable.
	DeliveryByMessageID(ctx context.Context, messageID string) (*Delivery, error)
	// SaveReport keeps a report and, when ev is not nil, records ev on its delivery and
	// moves the delivery to status `to` only from one of `from` (the invoice too, when
	// the delivery is the invoice's primary recipient), all in one transaction. A report
	// whose DedupKey was seen before changes nothing and returns duplicate true.
	// Errors: KindUnavailable.
	SaveReport(ctx context.Context, rep *InboundReport, ev *Event, to Status, from []Status) (duplicate bool, err error)
}

// Reports records what mail servers and e-mail providers report about delivered
// messages: DSNs, read receipts and provider events.
type Reports struct {
	store        ReportStore
	archive      Archive
	bounceDomain string
	now          func() time.Time
	log          *slog.Logger
}

func NewReports(store ReportStore, archive Archive, bounceDomain string, now func() time.Time, log *slog.Logger) *Reports {
	return &Reports{store: store, archive: archive, bounceDomain: bounceDomain, now: now, log: log}
}

// ReportEnvelope is the SMTP transaction a report arrived in.
type ReportEnvelope struct {
	MailFrom   string
	RcptTo     string
	RemoteAddr string
}

// ReceiveMail archives and records one report that arrived by SMTP for one bounce
// recipient. An error means nothing was kept and the sending server should try
// again later (KindUnavailable); every report that is kept returns nil, including
// those for unknown tokens and those that cannot be read.
func (rs *Reports) ReceiveMail(ctx context.Context, env ReportEnvelope, raw []byte) error {
	sum := sha256Hex(raw)
	now := rs.now().UTC()
	token, _ := tracking.ParseBounceAddress(env.RcptTo, rs.bounceDomain)
	// Keyed by content, so the copy a server resends after a lost reply lands on the
	// same object and the same report.
	obj := Object{Key: fmt.Sprintf("reports/%s/%s.eml", now.Format("2006/01/02"), sum), SHA256: sum, Size: int64(len(raw))}
	if err := rs.archive.Put(ctx, obj.Key, "message/rfc822", raw); err != nil {
		return fmt.Errorf("archive report: %w", err)
	}
	parsed, err := dsn.Parse(raw)
	if err != nil {
		parsed = &dsn.Report{Kind: dsn.KindUnknown, Format: "unreadable"}
	}
	rep := &InboundReport{
		ID: NewID("rpt"), Source: "smtp", DedupKey: "smtp:" + sum + ":" + token, Kind: parsed.Kind,
		Token: token, MessageID: parsed.OriginalMessageID, MailFrom: env.MailFrom, RcptTo: env.RcptTo,
		RemoteAddr: env.RemoteAddr, Raw: &obj, Summary: parsed, ReceivedAt: now,
	}
	var d *Delivery
	if token != "" {
		d, err = rs.store.DeliveryByBounceToken(ctx, token)
		if err != nil && ErrorKind(err) != KindNotFound {
			return err
		}
	}
	if d == nil && ValidID("dlv", parsed.EnvelopeID) {
		// A forwarder that rewrote the envelope sender (SRS) loses the token; the ENVID
		// the gateway set to the delivery id survives in the DSN.
		d, err = rs.store.DeliveryByMessageID(ctx, parsed.EnvelopeID)
		if err != nil && ErrorKind(err) != KindNotFound {
			return err
		}
	}
	return rs.apply(ctx, rep, d, now)
}

// ProviderEvent is one event from an e-mail provider's webhook, already verified
// and mapped onto the report vocabulary.
type ProviderEvent struct {
	Provider  string    // ses, postmark, mailgun, sendgrid
	EventID   string    // the provider's id of this event: the de-duplication key
	MessageID string    // our Message-ID as the provider saw it, without angle brackets
	At        time.Time // when the provider says it happened
	Report    dsn.Report
	Raw       []byte // the event as received, archived as evidence
}

// ReceiveProvider records one provider event. Providers deliver each event at least
// once: a repeated EventID changes nothing.
func (rs *Reports) ReceiveProvider(ctx context.Context, pe ProviderEvent) error {
	now := rs.now().UTC()
	sum := sha256Hex(pe.Raw)
	obj := Object{Key: fmt.Sprintf("reports/%s/%s-%s.json", now.Format("2006/01/02"), pe.Provider, sum), SHA256: sum, Size: int64(len(pe.Raw))}
	if err := rs.archive.Put(ctx, obj.Key, "application/json", pe.Raw); err != nil {
		return fmt.Errorf("archive provider event: %w", err)
	}
	parsed := pe.Report
	if parsed.Format == "" {
		parsed.Format = pe.Provider
	}
	rep := &InboundReport{
		ID: NewID("rpt"), Source: pe.Provider, DedupKey: pe.Provider + ":" + pe.EventID, Kind: parsed.Kind,
		MessageID: pe.MessageID, Raw: &obj, Summary: &parsed, ReceivedAt: now,
	}
	var d *Delivery
	if id := strings.Trim(pe.MessageID, "<> "); id != "" {
		var err error
		d, err = rs.store.DeliveryByMessageID(ctx, id)
		if err != nil && ErrorKind(err) != KindNotFound {
			return err
		}
	}
	at := pe.At
	if at.IsZero() {
		at = now
	}
	return rs.apply(ctx, rep, d, at)
}

func (rs *Reports) apply(ctx context.Context, rep *InboundReport, d *Delivery, at time.Time) error {
	var ev *Event
	var to Status
	var from []Status
	switch {
	case d == nil:
		rep.Outcome = ReportUnknown
	case rep.Kind == dsn.KindUnknown:
		rep.Outcome = ReportUnclassified
	default:
		rep.Outcome = ReportRecorded
	}
	if d != nil {
		rep.TenantID, rep.InvoiceID, rep.DeliveryID = d.TenantID, d.InvoiceID, d.ID
	}
	if rep.Outcome == ReportRecorded {
		e := reportEvent(rep, d, at)
		ev = &e
		to, from = ReportTransition(rep.Kind)
	}
	dup, err := rs.store.SaveReport(ctx, rep, ev, to, from)
	if err != nil {
		return err
	}
	switch {
	case dup:
		rs.log.InfoContext(ctx, "delivery report already recorded", "dedup_key", rep.DedupKey)
	case rep.Outcome != ReportRecorded:
		rs.log.WarnContext(ctx, "delivery report kept for an operator", "report_id", rep.ID, "outcome", rep.Outcome,
			"source", rep.Source, "kind", rep.Kind)
	default:
		rs.log.InfoContext(ctx, "delivery report recorded", "report_id", rep.ID, "delivery_id", d.ID, "kind", rep.Kind,
			"status", rep.Summary.Status)
	}
	return nil
}

// ReportTransition is the delivery status a report moves to and the statuses it may
// move from. The sets make reports order-independent: a bounce outranks a delivery
// (a server may accept a message and bounce it later), so whichever arrives first,
// a delivery that got both ends bounced; and a delivered report that arrives after
// the bounce finds "bounced" outside its from-set and moves nothing. Reports never
// touch a delivery whose recipient already did something (webtrack's statuses) or
// one that failed at our own relay. Delays and read receipts move nothing.
func ReportTransition(k dsn.Kind) (to Status, from []Status) {
	switch k {
	case dsn.KindDelivered:
		return StatusDelivered, []Status{StatusSending, StatusSent, StatusDeferred, StatusUnknownOutcome}
	case dsn.KindBounced:
		return StatusBounced, []Status{StatusSending, StatusSent, StatusDeferred, StatusUnknownOutcome, StatusDelivered}
	}
	return "", nil
}

// reportEvent is the evidence a report gives: what the reporting server said, and
// where the report's exact bytes are archived.
func reportEvent(rep *InboundReport, d *Delivery, at time.Time) Event {
	s := rep.Summary
	typ := map[dsn.Kind]EventType{
		dsn.KindDelivered: EventDelivered, dsn.KindRelayed: EventRelayed, dsn.KindDelayed: EventDelayed,
		dsn.KindBounced: EventBounced, dsn.KindReadReceipt: EventReadReceipt,
	}[rep.Kind]
	detail := map[string]string{
		"source":        rep.Source,
		"report_id":     rep.ID,
		"format":        s.Format,
		"reporting_mta": s.ReportingMTA,
		"remote_mta":    s.RemoteMTA,
		"recipient":     s.Recipient,
		"action":        s.Action,
		"status":        s.Status,
		"diagnostic":    s.Diagnostic,
		"bounce_type":   s.Bounce,
		"queue_id":      s.QueueID,
		"envelope_id":   s.EnvelopeID,
		"disposition":   s.Disposition,
		"reporting_ua":  s.ReportingUA,
		"message_id":    s.OriginalMessageID,
	}
	if rep.Raw != nil {
		detail["raw_key"], detail["raw_sha256"] = rep.Raw.Key, rep.Raw.SHA256
	}
	if rep.Source != "smtp" {
		detail["provider_event_id"] = strings.TrimPrefix(rep.DedupKey, rep.Source+":")
	}
	for k, v := range detail {
		if v == "" {
			delete(detail, k)
		}
	}
	ev := NewEvent(d.InvoiceID, d.ID, typ, at, detail)
	if typ == EventReadReceipt && !s.Displayed() {
		// "deleted", "processed" and the like say nothing about a person reading it.
		ev.Level = NoLevel
	}
	return ev
}
