package gateway

import (
	"context"
	"log/slog"
	"time"
)

// PrivacyMode is how much of a recipient's activity a tenant tracks.
type PrivacyMode string

const (
	// PrivacyOff: no open pixel in e-mails and no per-recipient link tracking. The
	// hosted page still works, and what a person does explicitly there (confirm
	// receipt, raise a query) is still recorded. The default: a tenant must choose.
	PrivacyOff PrivacyMode = "off"
	// PrivacyAnonymous: hits are recorded and classified, without IP or user agent.
	PrivacyAnonymous PrivacyMode = "anonymous"
	// PrivacyFull: hits keep the user agent and a truncated client network (/24, /48).
	PrivacyFull PrivacyMode = "full"
)

// Tracking policy defaults (DESIGN.md §3, issue 6).
const (
	DefaultRawRetentionDays       = 396 // 13 months
	DefaultLinkExpiryDaysAfterDue = 120
)

// TrackingSettings is a tenant's tracking policy.
type TrackingSettings struct {
	PrivacyMode            PrivacyMode `json:"privacy_mode"`
	RawRetentionDays       int         `json:"raw_retention_days"`
	LinkExpiryDaysAfterDue int         `json:"link_expiry_days_after_due"`
	UpdatedAt              *time.Time  `json:"updated_at,omitempty"`
}

// DefaultTrackingSettings is what a tenant has until it chooses.
func DefaultTrackingSettings() TrackingSettings {
	return TrackingSettings{PrivacyMode: PrivacyOff, RawRetentionDays: DefaultRawRetentionDays,
		LinkExpiryDaysAfterDue: DefaultLinkExpiryDaysAfterDue}
}

// Validate reports every bad field at once.
func (s TrackingSettings) Validate() error {
	var p Problems
	switch s.PrivacyMode {
	case PrivacyOff, PrivacyAnonymous, PrivacyFull:
	default:
		p.Add("privacy_mode", "invalid", `use "off", "anonymous" or "full"`)
	}
	if s.RawRetentionDays < 1 || s.RawRetentionDays > 3650 {
		p.Add("raw_retention_days", "out_of_range", "use a number of days between 1 and 3650")
	}
	if s.LinkExpiryDaysAfterDue < 0 || s.LinkExpiryDaysAfterDue > 3650 {
		p.Add("link_expiry_days_after_due", "out_of_range", "use a number of days between 0 and 3650")
	}
	return p.Err("the tracking settings have invalid fields")
}

// LinksExpireAt is when the hosted links of an invoice due on due stop working: the
// end of the due date plus the tenant's days, in UTC.
func (s TrackingSettings) LinksExpireAt(due time.Time) time.Time {
	d := time.Date(due.Year(), due.Month(), due.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, s.LinkExpiryDaysAfterDue+1)
}

// TrackingSettingsStore keeps tenants' tracking policies. Implemented by storage/postgres.
type TrackingSettingsStore interface {
	// TrackingSettings returns the tenant's policy, or the defaults when it never chose
	// one. Errors: KindUnavailable.
	TrackingSettings(ctx context.Context, tenantID string) (TrackingSettings, error)
	// SetTrackingSettings stores the tenant's policy. Errors: KindUnavailable.
	SetTrackingSettings(ctx context.Context, tenantID string, s TrackingSettings) (TrackingSettings, error)
}

// TrackHit is one request on a tracked URL as stored: the raw hit (within the privacy
// mode) with its classification. The first of its type and class for the delivery
// also becomes an evidence event (Evidence).
type TrackHit struct {
	TenantID       string
	InvoiceID      string
	DeliveryID     string
	TokenKind      TokenKind
	Event          EventType
	At             time.Time
	Method         string
	UserAgent      string // empty in anonymous mode
	IPPrefix       string // truncated network; empty in anonymous mode
	Classification string
	Reason         string
	PrivacyMode    PrivacyMode // the tenant's mode when the hit was recorded
}

// Evidence is the evidence event h becomes when it is the first of its type and
// classification for the delivery. Built on demand: most hits are not firsts, and
// the pixel path should not marshal a detail nobody stores.
func (h TrackHit) Evidence() Event {
	d := map[string]string{"method": h.Method, "classification": h.Classification, "reason": h.Reason,
		"privacy_mode": string(h.PrivacyMode)}
	if h.PrivacyMode == PrivacyFull {
		d["user_agent"] = h.UserAgent
		d["ip"] = h.IPPrefix
	}
	return NewEvent(h.InvoiceID, h.DeliveryID, h.Event, h.At, d)
}

// HitRecorder stores tracking hits. Implemented by storage/hitlog: a durable local
// log drained into Postgres.
type HitRecorder interface {
	// RecordHit stores h, and h.Evidence() when h is the first hit of its event type
	// and classification for the delivery, and returns once h is durable: a hit
	// answered with 2xx is never lost. It bounds its own wait (a few seconds) so
	// that a stuck disk or database gives an error, not a hanging request.
	// Errors: KindUnavailable.
	RecordHit(ctx context.Context, h TrackHit) error
	// WaitStored returns once every hit recorded before the call is readable from
	// the store, evidence events included. Errors: KindUnavailable.
	WaitStored(ctx context.Context) error
}

// LinkStore answers what the hosted links of a delivery may do.
type LinkStore interface {
	// LinksRevoked reports whether the tenant revoked the delivery's hosted links.
	// Errors: KindUnavailable.
	LinksRevoked(ctx context.Context, deliveryID string) (bool, error)
	// RevokeLinks revokes a delivery's hosted links for good and returns when. Another
	// tenant's delivery is KindNotFound.
	RevokeLinks(ctx context.Context, tenantID, deliveryID string) (time.Time, error)
	// DeliverySentAt returns when the relay accepted the delivery, nil when it has not.
	// Errors: KindNotFound, KindUnavailable.
	DeliverySentAt(ctx context.Context, deliveryID string) (*time.Time, error)
	// RecentHitKinds returns the token kinds hit on the delivery since a moment.
	// Errors: KindUnavailable.
	RecentHitKinds(ctx context.Context, deliveryID string, since time.Time) ([]TokenKind, error)
}

// QueryRecorder takes a question or objection a recipient raised on the hosted page.
// Implemented here by EventQueries (a disputed event); a disputes service may take
// its place.
type QueryRecorder interface {
	// RaiseQuery records the query of the person named on the invoice behind tok.
	// Errors: KindUnavailable.
	RaiseQuery(ctx context.Context, tok Token, name, message string) error
}

// EventRecorder appends evidence events. Implemented by storage/postgres.
type EventRecorder interface {
	// RecordEvent appends one event. Errors: KindUnavailable.
	RecordEvent(ctx context.Context, tenantID string, e Event) error
}

// EventQueries records a raised query as a disputed event on the invoice's timeline,
// where the collector sees it.
type EventQueries struct {
	Events EventRecorder
	Now    func() time.Time
}

var _ QueryRecorder = EventQueries{}

func (q EventQueries) RaiseQuery(ctx context.Context, tok Token, name, message string) error {
	ev := NewEvent(tok.InvoiceID, tok.DeliveryID, EventDisputed, q.Now(), map[string]string{
		"name": name, "message": message, "source": "hosted_page",
	})
	return q.Events.RecordEvent(ctx, tok.TenantID, ev)
}

// HitPurger deletes raw tracking hits past their tenant's retention.
type HitPurger interface {
	// PurgeTrackingHits deletes raw hits older than each tenant's retention and
	// returns how many. Errors: KindUnavailable.
	PurgeTrackingHits(ctx context.Context, now time.Time) (int64, error)
}

// RunRetention purges raw tracking hits now and then every interval until ctx ends.
// Evidence events are never touched. Running it on every instance is harmless: the
// delete is idempotent.
func RunRetention(ctx context.Context, p HitPurger, interval time.Duration, now func() time.Time, log *slog.Logger) {
	for {
		n, err := p.PurgeTrackingHits(ctx, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "raw tracking hit retention failed", "err", err)
		case n > 0:
			log.InfoContext(ctx, "raw tracking hits past retention deleted", "hits", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
