package gateway

import (
	"encoding/json"
	"time"
)

// EventType names one step of an invoice's life that is kept as evidence.
type EventType string

const (
	EventAccepted       EventType = "accepted"
	EventRendered       EventType = "rendered"
	EventArchived       EventType = "archived"
	EventSent           EventType = "sent"
	EventDeferred       EventType = "deferred"
	EventDelivered      EventType = "delivered"
	EventOpened         EventType = "opened"
	EventClicked        EventType = "clicked"
	EventViewed         EventType = "viewed"
	EventDownloaded     EventType = "downloaded"
	EventAcknowledged   EventType = "acknowledged"
	EventBounced        EventType = "bounced"
	EventFailed         EventType = "failed"
	EventDelayed        EventType = "delayed"
	EventComplained     EventType = "complained"
	EventUnknownOutcome EventType = "unknown_outcome"

	// A customer's query about the invoice (raised by the recipient on the hosted
	// page, by a collector or through the API; see Disputes) and its resolution. They
	// prove nothing about delivery, so they have no level.
	EventDisputed        EventType = "disputed"
	EventDisputeResolved EventType = "dispute_resolved"
)

// NoLevel marks negative or uncertain outcomes, which prove nothing on the ladder.
const NoLevel = -1

// Level is the event's rung on the evidence ladder (DESIGN.md §3): how much the event
// proves about the invoice reaching a person. Negative outcomes have NoLevel.
func (t EventType) Level() int {
	switch t {
	case EventAccepted:
		return 0
	case EventRendered, EventArchived:
		return 1
	case EventSent:
		return 2
	case EventDelivered:
		return 3
	case EventOpened, EventReadReceipt:
		return 4
	case EventClicked, EventViewed, EventDownloaded:
		return 5
	case EventAcknowledged:
		return 6
	default:
		return NoLevel
	}
}

// Event is one recorded piece of evidence. Detail holds the facts that make it
// evidence: hashes for rendered and archived, the server's reply for sent, the
// request's user agent for a tracking hit.
type Event struct {
	ID         int64           `json:"id"`
	InvoiceID  string          `json:"invoice_id"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Type       EventType       `json:"type"`
	Level      int             `json:"level"`
	At         time.Time       `json:"at"`
	Detail     json.RawMessage `json:"detail"`
	// Seq, PrevHash and Hash place the event in its invoice's hash chain (see
	// gateway/evidence); the store fills them in when it appends the event.
	Seq      int64  `json:"seq,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// NewEvent builds an event of type t with its level filled in and detail marshalled.
// Detail values are plain structs and maps of strings, so marshalling cannot fail.
func NewEvent(invoiceID, deliveryID string, t EventType, at time.Time, detail any) Event {
	raw, err := json.Marshal(detail)
	if err != nil || detail == nil {
		raw = json.RawMessage(`{}`)
	}
	return Event{InvoiceID: invoiceID, DeliveryID: deliveryID, Type: t, Level: t.Level(), At: at.UTC(), Detail: raw}
}
