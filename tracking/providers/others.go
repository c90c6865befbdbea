package providers

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// Postmark verifies Postmark webhooks. Postmark signs nothing; it sends the basic
// auth credentials embedded in the webhook URL, or a custom header the account
// configured. Either or both may be set; a request must pass every one that is.
type Postmark struct {
	User, Password string
	Token          string // compared with the X-Postmark-Token header (or ?token=)
}

// TokenHeader is the custom header a Postmark webhook is configured to send.
const TokenHeader = "X-Postmark-Token"

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Verify checks the credentials of one request.
func (p Postmark) Verify(r *http.Request) error {
	if p.User == "" && p.Token == "" {
		return fmt.Errorf("%w: no Postmark credentials are configured", ErrSignature)
	}
	if p.User != "" {
		u, pw, ok := r.BasicAuth()
		if !ok || !equal(u, p.User) || !equal(pw, p.Password) {
			return fmt.Errorf("%w: basic auth", ErrSignature)
		}
	}
	if p.Token != "" {
		got := r.Header.Get(TokenHeader)
		if got == "" {
			got = r.URL.Query().Get("token")
		}
		if !equal(got, p.Token) {
			return fmt.Errorf("%w: token", ErrSignature)
		}
	}
	return nil
}

type postmarkEvent struct {
	RecordType    string
	ID            json.Number
	Type          string // HardBounce, SoftBounce, Transient, ...
	MessageID     string
	Recipient     string
	Email         string
	Details       string
	Description   string
	DeliveredAt   time.Time
	BouncedAt     time.Time
	ServerID      json.Number
	Metadata      map[string]string
	MessageStream string
}

// ParsePostmark maps one Postmark webhook body (one event per request).
func ParsePostmark(body []byte) ([]Event, error) {
	var e postmarkEvent
	if err := json.Unmarshal(body, &e); err != nil || e.RecordType == "" {
		return nil, fmt.Errorf("%w: not a Postmark event", ErrPayload)
	}
	ev := Event{Provider: "postmark", MessageID: metadataID(e.Metadata), Raw: body}
	if ev.MessageID == "" {
		ev.MessageID = e.MessageID // Postmark's own id; matches only if the gateway stored it
	}
	switch e.RecordType {
	case "Delivery":
		ev.EventID = "delivery:" + e.MessageID + ":" + strings.ToLower(e.Recipient)
		ev.At = e.DeliveredAt
		ev.Report = dsn.Report{Kind: dsn.KindDelivered, Action: "delivered", Recipient: e.Recipient, Diagnostic: e.Details,
			Status: statusInText.FindString(e.Details)}
		if ev.Report.Status == "" {
			ev.Report.Status = "2.0.0"
		}
	case "Bounce":
		ev.EventID = "bounce:" + e.ID.String()
		ev.At = e.BouncedAt
		switch e.Type {
		case "Transient", "DnsError", "SoftBounce", "AutoResponder":
			ev.Report = bounceFrom(e.Email, "", e.Details, false)
			if e.Type == "Transient" || e.Type == "DnsError" {
				// Postmark keeps trying after these: the message is delayed, not lost.
				ev.Report.Kind, ev.Report.Bounce, ev.Report.Action = dsn.KindDelayed, "", "delayed"
			}
		default:
			ev.Report = bounceFrom(e.Email, "", e.Details, e.Type == "HardBounce" || e.Type == "BadEmailAddress")
		}
		if ev.Report.Diagnostic == "" {
			ev.Report.Diagnostic = e.Description
		}
	default:
		return nil, nil // Open, Click, SpamComplaint, SubscriptionChange: not delivery reports
	}
	ev.Report.Format = "postmark"
	return []Event{ev}, nil
}

// metadataID reads the id the gateway put into provider metadata (custom args,
// X-PM-Metadata-*, v:variables), if it did.
func metadataID(m map[string]string) string {
	for _, k := range []string{"message_id", "delivery_id", "invoicegw_message_id"} {
		if v := trimID(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// Mailgun verifies Mailgun webhooks: HMAC-SHA256 over timestamp+token with the
// webhook signing key, and a timestamp within the replay window.
type Mailgun struct {
	SigningKey string
	Window     time.Duration // default 5 minutes
	Now        func() time.Time
}

type mailgunBody struct {
	Signature struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
	EventData json.RawMessage `json:"event-data"`
}

// Parse verifies and maps one Mailgun webhook body.
func (m Mailgun) Parse(body []byte) ([]Event, error) {
	var b mailgunBody
	if err := json.Unmarshal(body, &b); err != nil || len(b.EventData) == 0 {
		return nil, fmt.Errorf("%w: not a Mailgun event", ErrPayload)
	}
	if m.SigningKey == "" {
		return nil, fmt.Errorf("%w: no Mailgun signing key is configured", ErrSignature)
	}
	mac := hmac.New(sha256.New, []byte(m.SigningKey))
	mac.Write([]byte(b.Signature.Timestamp + b.Signature.Token))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(b.Signature.Signature))) {
		return nil, fmt.Errorf("%w: HMAC", ErrSignature)
	}
	ts, err := strconv.ParseInt(b.Signature.Timestamp, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp", ErrSignature)
	}
	now, window := time.Now, m.Window
	if m.Now != nil {
		now = m.Now
	}
	if window <= 0 {
		window = 5 * time.Minute
	}
	if d := now().Sub(time.Unix(ts, 0)); math.Abs(float64(d)) > float64(window) {
		return nil, fmt.Errorf("%w: timestamp outside the replay window", ErrSignature)
	}
	var e struct {
		Event     string  `json:"event"`
		ID        string  `json:"id"`
		Timestamp float64 `json:"timestamp"`
		Severity  string  `json:"severity"`
		Reason    string  `json:"reason"`
		Recipient string  `json:"recipient"`
		Message   struct {
			Headers map[string]string `json:"headers"`
		} `json:"message"`
		UserVariables  map[string]string `json:"user-variables"`
		DeliveryStatus struct {
			Code         int    `json:"code"`
			EnhancedCode string `json:"enhanced-code"`
			Message      string `json:"message"`
			Description  string `json:"description"`
			MXHost       string `json:"mx-host"`
		} `json:"delivery-status"`
	}
	if err := json.Unmarshal(b.EventData, &e); err != nil || e.ID == "" {
		return nil, fmt.Errorf("%w: Mailgun event-data", ErrPayload)
	}
	ev := Event{Provider: "mailgun", EventID: e.ID, Raw: body,
		At: time.Unix(0, int64(e.Timestamp*float64(time.Second))).UTC()}
	ev.MessageID = metadataID(e.UserVariables)
	if ev.MessageID == "" {
		ev.MessageID = trimID(e.Message.Headers["message-id"])
	}
	ds := e.DeliveryStatus
	diag := strings.TrimSpace(strings.TrimSpace(strconv.Itoa(ds.Code)) + " " + firstNonEmpty(ds.Message, ds.Description))
	if ds.Code == 0 {
		diag = firstNonEmpty(ds.Message, ds.Description)
	}
	status := ds.EnhancedCode
	if status == "" {
		status = statusInText.FindString(diag)
	}
	switch e.Event {
	case "delivered":
		if status == "" {
			status = "2.0.0"
		}
		ev.Report = dsn.Report{Kind: dsn.KindDelivered, Action: "delivered", Recipient: e.Recipient, Status: status,
			Diagnostic: diag, RemoteMTA: ds.MXHost}
	case "failed":
		if e.Severity == "temporary" {
			ev.Report = dsn.Report{Kind: dsn.KindDelayed, Action: "delayed", Recipient: e.Recipient, Status: status,
				Diagnostic: diag, RemoteMTA: ds.MXHost}
			break
		}
		ev.Report = bounceFrom(e.Recipient, status, diag, true)
		if status == "" && ds.Code >= 400 && ds.Code < 500 {
			ev.Report.Bounce = dsn.BounceSoft
		}
		ev.Report.RemoteMTA = ds.MXHost
	default:
		return nil, nil
	}
	ev.Report.Format = "mailgun"
	return []Event{ev}, nil
}

// SendGrid verifies SendGrid's signed event webhook: ECDSA (P-256, SHA-256) over
// timestamp+body with the public key shown in SendGrid's settings.
type SendGrid struct {
	key    *ecdsa.PublicKey
	Window time.Duration
	Now    func() time.Time
}

// SendGrid signature headers.
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// NewSendGrid reads the verification key as SendGrid shows it: base64 of the DER
// (PKIX) public key, with or without PEM armour.
func NewSendGrid(publicKey string) (*SendGrid, error) {
	s := strings.TrimSpace(publicKey)
	s = strings.TrimPrefix(s, "-----BEGIN PUBLIC KEY-----")
	s = strings.TrimSuffix(s, "-----END PUBLIC KEY-----")
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, fmt.Errorf("sendgrid public key is not base64: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sendgrid public key: %w", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sendgrid public key is not an ECDSA key")
	}
	return &SendGrid{key: k}, nil
}

// Parse verifies and maps one SendGrid request (a JSON array of events).
func (s *SendGrid) Parse(h http.Header, body []byte) ([]Event, error) {
	sig, err := base64.StdEncoding.DecodeString(h.Get(SendGridSignatureHeader))
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: missing signature", ErrSignature)
	}
	tsText := h.Get(SendGridTimestampHeader)
	digest := sha256.Sum256(append([]byte(tsText), body...))
	if !ecdsa.VerifyASN1(s.key, digest[:], sig) {
		return nil, fmt.Errorf("%w: ECDSA", ErrSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp", ErrSignature)
	}
	now, window := time.Now, s.Window
	if s.Now != nil {
		now = s.Now
	}
	if window <= 0 {
		// SendGrid retries for up to 24 hours, re-signing each time; ten minutes is
		// plenty for clock skew and queueing.
		window = 10 * time.Minute
	}
	if d := now().Sub(time.Unix(ts, 0)); math.Abs(float64(d)) > float64(window) {
		return nil, fmt.Errorf("%w: timestamp outside the replay window", ErrSignature)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("%w: not a SendGrid event array", ErrPayload)
	}
	var out []Event
	for _, raw := range raws {
		var e struct {
			Email     string `json:"email"`
			Timestamp int64  `json:"timestamp"`
			SMTPID    string `json:"smtp-id"`
			Event     string `json:"event"`
			EventID   string `json:"sg_event_id"`
			MessageID string `json:"message_id"` // custom arg set by the gateway, if any
			Response  string `json:"response"`
			Reason    string `json:"reason"`
			Status    string `json:"status"`
			Type      string `json:"type"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.EventID == "" {
			return nil, fmt.Errorf("%w: SendGrid event", ErrPayload)
		}
		ev := Event{Provider: "sendgrid", EventID: e.EventID, At: time.Unix(e.Timestamp, 0).UTC(), Raw: raw,
			MessageID: firstNonEmpty(trimID(e.MessageID), trimID(e.SMTPID))}
		switch e.Event {
		case "delivered":
			ev.Report = dsn.Report{Kind: dsn.KindDelivered, Action: "delivered", Recipient: e.Email, Diagnostic: e.Response,
				Status: firstNonEmpty(statusInText.FindString(e.Response), "2.0.0")}
		case "deferred":
			ev.Report = dsn.Report{Kind: dsn.KindDelayed, Action: "delayed", Recipient: e.Email, Diagnostic: e.Response,
				Status: statusInText.FindString(e.Response)}
		case "bounce":
			// "blocked" bounces are policy refusals SendGrid may retry later; a "bounce"
			// type is the receiving server refusing the address.
			ev.Report = bounceFrom(e.Email, e.Status, e.Reason, e.Type != "blocked")
		case "dropped":
			ev.Report = bounceFrom(e.Email, "", e.Reason, true)
		default:
			continue // processed, open, click, spamreport, ...
		}
		ev.Report.Format = "sendgrid"
		out = append(out, ev)
	}
	return out, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
