package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway/stdwebhook"
)

// WebhookEventTypes are the event types an endpoint can subscribe to, in the order
// of an invoice's life.
var WebhookEventTypes = []string{
	"invoice.accepted", "invoice.sent", "invoice.delivered", "invoice.opened", "invoice.viewed",
	"invoice.acknowledged", "invoice.disputed", "invoice.bounced", "invoice.failed", "invoice.unknown_outcome",
}

// WebhookType is the webhook event type an event is pushed as. Opens and views made
// by machines (privacy proxies, security scanners) are not pushed: the accounting
// system would read them as a person having seen the invoice. They stay on the
// timeline and in GET /v1/events.
func WebhookType(e Event) (string, bool) {
	switch e.Type {
	case EventAccepted, EventSent, EventDelivered, EventAcknowledged, EventDisputed, EventBounced, EventFailed, EventUnknownOutcome:
		return "invoice." + string(e.Type), true
	case EventOpened, EventViewed:
		var d struct {
			Classification string `json:"classification"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		if d.Classification == "machine" {
			return "", false
		}
		return "invoice." + string(e.Type), true
	}
	return "", false
}

// WebhookPayload is the body sent for an event: the Standard Webhooks envelope
// (type, timestamp, data) around the event as GET /v1/events shows it.
func WebhookPayload(whType string, e Event) ([]byte, error) {
	return json.Marshal(struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      Event     `json:"data"`
	}{whType, e.At.UTC(), e})
}

// WebhookBackoff is the wait before each retry of a webhook: about three days in all
// (the Standard Webhooks recommendation stretched to cover a long weekend outage).
var WebhookBackoff = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 10 * time.Hour,
}

// WebhookMaxAttempts is one first try plus one per WebhookBackoff step.
const WebhookMaxAttempts = 11

// WebhookQueue is the job queue webhook jobs run in, apart from deliveries.
const WebhookQueue = "webhooks"

// WebhookEndpoint is where a tenant's accounting system receives events.
type WebhookEndpoint struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"-"`
	URL            string    `json:"url"`
	Description    string    `json:"description"`
	EventTypes     []string  `json:"event_types"` // empty: every type
	Secret         string    `json:"secret,omitempty"`
	Disabled       bool      `json:"disabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Webhook delivery states.
const (
	WebhookPending   = "pending"
	WebhookSucceeded = "succeeded"
	WebhookFailed    = "failed"
)

// WebhookDelivery is one message to one endpoint with its log of attempts.
type WebhookDelivery struct {
	ID             string           `json:"id"`
	EndpointID     string           `json:"endpoint_id"`
	MessageID      string           `json:"message_id"`
	EventID        int64            `json:"event_id"`
	EventType      string           `json:"event_type"`
	Status         string           `json:"status"`
	Attempts       int              `json:"attempts"`
	LastStatusCode int              `json:"last_status_code,omitempty"`
	LastError      string           `json:"last_error,omitempty"`
	ReplayOf       string           `json:"replay_of,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	Log            []WebhookAttempt `json:"attempts_log"`
	Payload        []byte           `json:"-"`
}

// WebhookAttempt is one try to deliver a webhook.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// WebhookJob asks a worker to try one webhook delivery. It is enqueued in the
// transaction that records the event.
type WebhookJob struct {
	DeliveryID string `json:"webhook_delivery_id"`
}

// Kind names the job for the queue.
func (WebhookJob) Kind() string { return "webhook" }

// WebhookStore is what webhooks need from storage.
type WebhookStore interface {
	// CreateWebhookEndpoint stores a new endpoint. Errors: KindUnavailable.
	CreateWebhookEndpoint(ctx context.Context, ep *WebhookEndpoint) error
	// WebhookEndpoints lists a tenant's endpoints, without secrets. Errors: KindUnavailable.
	WebhookEndpoints(ctx context.Context, tenantID string) ([]WebhookEndpoint, error)
	// UpdateWebhookEndpoint changes URL, description, event types and (re-)enables it.
	// Errors: KindNotFound, KindUnavailable.
	UpdateWebhookEndpoint(ctx context.Context, ep *WebhookEndpoint) error
	// DeleteWebhookEndpoint removes an endpoint and its log. Errors: KindNotFound, KindUnavailable.
	DeleteWebhookEndpoint(ctx context.Context, tenantID, id string) error
	// WebhookDeliveries is an endpoint's log, newest first. Errors: KindNotFound, KindUnavailable.
	WebhookDeliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]WebhookDelivery, error)
	// ReplayWebhookDelivery enqueues a new delivery of the same message to the same
	// endpoint. Errors: KindNotFound, KindConflict (endpoint disabled), KindUnavailable.
	ReplayWebhookDelivery(ctx context.Context, tenantID, deliveryID, newID string) (*WebhookDelivery, error)
	// WebhookForAttempt returns a delivery with its endpoint. Errors: KindNotFound, KindUnavailable.
	WebhookForAttempt(ctx context.Context, deliveryID string) (*WebhookDelivery, *WebhookEndpoint, error)
	// RecordWebhookAttempt logs one attempt, sets the delivery's status and, when
	// disable is not empty, disables the endpoint with that reason. Errors: KindUnavailable.
	RecordWebhookAttempt(ctx context.Context, deliveryID string, a WebhookAttempt, status, disable string) error
	// TenantEvents returns a tenant's events with id > after, oldest first. Errors: KindUnavailable.
	TenantEvents(ctx context.Context, tenantID string, after int64, limit int) ([]Event, error)
}

// WebhookPoster sends one signed webhook. Implemented by stdwebhook.Poster.
type WebhookPoster interface {
	Post(ctx context.Context, url, secret, id string, ts time.Time, body []byte) (stdwebhook.Result, error)
}

// Webhooks pushes events to accounting systems and lets them manage endpoints and
// poll events.
type Webhooks struct {
	store  WebhookStore
	poster WebhookPoster
	now    func() time.Time
	log    *slog.Logger
}

func NewWebhooks(store WebhookStore, poster WebhookPoster, now func() time.Time, log *slog.Logger) *Webhooks {
	return &Webhooks{store: store, poster: poster, now: now, log: log}
}

// EndpointInput is what a client sends to create or update an endpoint.
type EndpointInput struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"` // update only: true re-enables a disabled endpoint
}

func (in EndpointInput) validate(create bool) error {
	var p Problems
	if in.URL == nil {
		if create {
			p.Add("url", "required", "give the URL that receives the webhooks, e.g. https://erp.example.com/hooks/invoicegw")
		}
	} else if u, err := url.Parse(*in.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		p.Add("url", "invalid", "give an absolute http(s) URL without credentials")
	}
	if in.EventTypes != nil {
		for i, t := range *in.EventTypes {
			if !slices.Contains(WebhookEventTypes, t) {
				p.Add(fmt.Sprintf("event_types[%d]", i), "unknown", "use one of "+strings.Join(WebhookEventTypes, ", "))
			}
		}
	}
	if in.Description != nil && len(*in.Description) > 500 {
		p.Add("description", "too_long", "keep the description under 500 characters")
	}
	if in.Enabled != nil && create {
		p.Add("enabled", "not_allowed", "a new endpoint is always enabled")
	}
	return p.Err("the webhook endpoint is invalid")
}

// CreateEndpoint registers an endpoint and returns it with its secret, which is
// shown only this once.
func (w *Webhooks) CreateEndpoint(ctx context.Context, tenantID string, in EndpointInput) (*WebhookEndpoint, error) {
	if err := in.validate(true); err != nil {
		return nil, err
	}
	secret, err := stdwebhook.NewSecret()
	if err != nil {
		return nil, Wrap(KindInternal, err, "could not create the endpoint")
	}
	now := w.now().UTC()
	ep := &WebhookEndpoint{ID: NewID("whe"), TenantID: tenantID, URL: *in.URL, Secret: secret, EventTypes: []string{},
		CreatedAt: now, UpdatedAt: now}
	if in.Description != nil {
		ep.Description = *in.Description
	}
	if in.EventTypes != nil {
		ep.EventTypes = *in.EventTypes
	}
	if err := w.store.CreateWebhookEndpoint(ctx, ep); err != nil {
		return nil, err
	}
	return ep, nil
}

// Endpoints lists the tenant's endpoints.
func (w *Webhooks) Endpoints(ctx context.Context, tenantID string) ([]WebhookEndpoint, error) {
	return w.store.WebhookEndpoints(ctx, tenantID)
}

// UpdateEndpoint changes the fields given.
func (w *Webhooks) UpdateEndpoint(ctx context.Context, tenantID, id string, in EndpointInput) (*WebhookEndpoint, error) {
	if !ValidID("whe", id) {
		return nil, Errorf(KindNotFound, "webhook endpoint %q not found", id)
	}
	if err := in.validate(false); err != nil {
		return nil, err
	}
	eps, err := w.store.WebhookEndpoints(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(eps, func(e WebhookEndpoint) bool { return e.ID == id })
	if i < 0 {
		return nil, Errorf(KindNotFound, "webhook endpoint %q not found", id)
	}
	ep := eps[i]
	if in.URL != nil {
		ep.URL = *in.URL
	}
	if in.Description != nil {
		ep.Description = *in.Description
	}
	if in.EventTypes != nil {
		ep.EventTypes = *in.EventTypes
	}
	if in.Enabled != nil {
		ep.Disabled = !*in.Enabled
		if !ep.Disabled {
			ep.DisabledReason = ""
		} else if ep.DisabledReason == "" {
			ep.DisabledReason = "disabled by the client"
		}
	}
	ep.UpdatedAt = w.now().UTC()
	if err := w.store.UpdateWebhookEndpoint(ctx, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}

// DeleteEndpoint removes an endpoint; messages still queued for it are dropped.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	if !ValidID("whe", id) {
		return Errorf(KindNotFound, "webhook endpoint %q not found", id)
	}
	return w.store.DeleteWebhookEndpoint(ctx, tenantID, id)
}

// Deliveries is an endpoint's delivery log.
func (w *Webhooks) Deliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]WebhookDelivery, error) {
	if !ValidID("whe", endpointID) {
		return nil, Errorf(KindNotFound, "webhook endpoint %q not found", endpointID)
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return w.store.WebhookDeliveries(ctx, tenantID, endpointID, limit)
}

// Replay sends a delivered or failed message again, as a new delivery with the same
// webhook-id (receivers that de-duplicate by it may ignore it; that is their call).
func (w *Webhooks) Replay(ctx context.Context, tenantID, deliveryID string) (*WebhookDelivery, error) {
	if !ValidID("whd", deliveryID) {
		return nil, Errorf(KindNotFound, "webhook delivery %q not found", deliveryID)
	}
	return w.store.ReplayWebhookDelivery(ctx, tenantID, deliveryID, NewID("whd"))
}

// Attempt tries one webhook delivery; the job worker calls it. It returns nil when
// the delivery reached a final state, and an error wrapping ErrRetry when the
// queue should try again after its backoff.
func (w *Webhooks) Attempt(ctx context.Context, deliveryID string, lastAttempt bool) error {
	d, ep, err := w.store.WebhookForAttempt(ctx, deliveryID)
	if err != nil {
		if ErrorKind(err) == KindNotFound {
			return nil // the endpoint was deleted
		}
		return fmt.Errorf("%w: load webhook: %w", ErrRetry, err)
	}
	if d.Status != WebhookPending {
		return nil
	}
	if ep.Disabled {
		return w.store.RecordWebhookAttempt(ctx, d.ID, WebhookAttempt{At: w.now().UTC(), Error: "endpoint disabled: " + ep.DisabledReason}, WebhookFailed, "")
	}
	res, perr := w.poster.Post(ctx, ep.URL, ep.Secret, d.MessageID, w.now(), d.Payload)
	a := WebhookAttempt{At: w.now().UTC(), StatusCode: res.StatusCode, Response: res.Body, DurationMS: res.Duration.Milliseconds()}
	status, disable := WebhookPending, ""
	switch {
	case perr != nil:
		a.Error = perr.Error()
	case res.StatusCode >= 200 && res.StatusCode < 300:
		status = WebhookSucceeded
	case res.StatusCode == 410:
		// 410 Gone is the receiver saying "stop": the Standard Webhooks convention.
		status, disable = WebhookFailed, "the endpoint answered 410 Gone"
		a.Error = "410 Gone: endpoint disabled"
	case res.StatusCode >= 300 && res.StatusCode < 400:
		a.Error = "redirect " + strconv.Itoa(res.StatusCode) + " not followed: register the final URL"
	default:
		a.Error = "HTTP " + strconv.Itoa(res.StatusCode)
	}
	if status == WebhookPending && lastAttempt {
		status = WebhookFailed
	}
	if err := w.store.RecordWebhookAttempt(ctx, d.ID, a, status, disable); err != nil {
		return fmt.Errorf("%w: record webhook attempt: %w", ErrRetry, err)
	}
	if disable != "" {
		w.log.WarnContext(ctx, "webhook endpoint disabled", "endpoint_id", ep.ID, "reason", disable)
	}
	if status == WebhookPending {
		return fmt.Errorf("%w: webhook %s: %s", ErrRetry, d.ID, a.Error)
	}
	return nil
}

// EventPage is one page of GET /v1/events.
type EventPage struct {
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"` // pass as ?after= to continue; the same when nothing is new
	HasMore    bool    `json:"has_more"`
}

// Events returns the tenant's events after a cursor, oldest first, for systems that
// poll instead of receiving webhooks. The cursor is opaque to clients.
func (w *Webhooks) Events(ctx context.Context, tenantID, after string, limit int) (*EventPage, error) {
	var p Problems
	var from int64
	if after != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(after, "ev_"), 10, 64)
		if err != nil || n < 0 || !strings.HasPrefix(after, "ev_") {
			p.Add("after", "invalid", "pass the next_cursor of a previous page, or nothing to start at the beginning")
		}
		from = n
	}
	if limit < 0 || limit > 500 {
		p.Add("limit", "out_of_range", "ask for 1 to 500 events (default 100)")
	}
	if err := p.Err("the query is invalid"); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 100
	}
	evs, err := w.store.TenantEvents(ctx, tenantID, from, limit+1)
	if err != nil {
		return nil, err
	}
	page := &EventPage{Events: evs, NextCursor: after}
	if len(evs) > limit {
		page.Events, page.HasMore = evs[:limit], true
	}
	if n := len(page.Events); n > 0 {
		page.NextCursor = "ev_" + strconv.FormatInt(page.Events[n-1].ID, 10)
	}
	if page.Events == nil {
		page.Events = []Event{}
	}
	return page, nil
}
