package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// RawHit is one stored tracking hit, as the tenant may read it back.
type RawHit struct {
	ID             int64     `json:"id"`
	DeliveryID     string    `json:"delivery_id"`
	TokenKind      string    `json:"token_kind"`
	Event          string    `json:"event"`
	At             time.Time `json:"at"`
	Method         string    `json:"method"`
	UserAgent      string    `json:"user_agent,omitempty"`
	IPPrefix       string    `json:"ip_prefix,omitempty"`
	Classification string    `json:"classification"`
	Reason         string    `json:"reason"`
}

// EngagementStore reads what the recipient's side did with an invoice.
type EngagementStore interface {
	// Events returns the invoice's timeline. Errors: KindNotFound, KindUnavailable.
	Events(ctx context.Context, tenantID, invoiceID string) ([]Event, error)
	// TrackingHits returns the raw hits still within retention, oldest first.
	// Errors: KindUnavailable.
	TrackingHits(ctx context.Context, tenantID, invoiceID string) ([]RawHit, error)
}

// Signal sums up one kind of recipient activity: whether a person did it (only
// human-classified evidence counts) and how many hits of each class were seen.
type Signal struct {
	Human          bool       `json:"human"`
	FirstHumanAt   *time.Time `json:"first_human_at,omitempty"`
	HumanReason    string     `json:"human_reason,omitempty"`
	HumanHits      int        `json:"human_hits"`
	MachineHits    int        `json:"machine_hits"`
	MachineReasons []string   `json:"machine_reasons,omitempty"`
}

// Engagement answers the collector's question "did a person see this invoice?".
type Engagement struct {
	InvoiceID string `json:"invoice_id"`
	// SeenByPerson is true only on human evidence: an opened, clicked, viewed or
	// downloaded event classified human, or an acknowledgement.
	SeenByPerson bool `json:"seen_by_person"`
	// Strongest is the highest evidence level a person reached (4 opened ... 6
	// acknowledged), or -1.
	Strongest int `json:"strongest_level"`
	// Signals by event type: opened, clicked, viewed, downloaded, acknowledged.
	Signals map[EventType]*Signal `json:"signals"`
	Hits    []RawHit              `json:"hits"`
}

var engagementTypes = []EventType{EventOpened, EventClicked, EventViewed, EventDownloaded, EventAcknowledged}

// Engagement reads the invoice's human and machine activity. Hit counts cover the
// raw hits still within retention; human evidence comes from the events, kept for
// good. Errors: KindNotFound, KindUnavailable.
func (t *Tracker) Engagement(ctx context.Context, tenantID, invoiceID string) (*Engagement, error) {
	evs, err := t.d.Reports.Events(ctx, tenantID, invoiceID)
	if err != nil {
		return nil, err
	}
	hits, err := t.d.Reports.TrackingHits(ctx, tenantID, invoiceID)
	if err != nil {
		return nil, err
	}
	return summarise(invoiceID, evs, hits), nil
}

func summarise(invoiceID string, evs []Event, hits []RawHit) *Engagement {
	e := &Engagement{InvoiceID: invoiceID, Strongest: NoLevel, Signals: map[EventType]*Signal{}, Hits: hits}
	if e.Hits == nil {
		e.Hits = []RawHit{}
	}
	for _, typ := range engagementTypes {
		e.Signals[typ] = &Signal{}
	}
	for _, h := range hits {
		s, ok := e.Signals[EventType(h.Event)]
		if !ok {
			continue
		}
		if h.Classification == "human" {
			s.HumanHits++
		} else {
			s.MachineHits++
			if !slices.Contains(s.MachineReasons, h.Reason) {
				s.MachineReasons = append(s.MachineReasons, h.Reason)
			}
		}
	}
	for _, ev := range evs {
		s, ok := e.Signals[ev.Type]
		if !ok {
			continue
		}
		var d struct {
			Classification string `json:"classification"`
			Reason         string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Detail, &d)
		// Acknowledgements are only ever recorded from people.
		human := d.Classification == "human" || ev.Type == EventAcknowledged
		if !human || s.Human {
			continue
		}
		at := ev.At
		s.Human, s.FirstHumanAt, s.HumanReason = true, &at, d.Reason
		e.SeenByPerson = true
		e.Strongest = max(e.Strongest, ev.Level)
	}
	return e
}
