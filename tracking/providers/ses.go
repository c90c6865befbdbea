package providers

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// SNS verifies Amazon SNS messages: the signature (SignatureVersion 1, SHA1withRSA,
// or 2, SHA256withRSA) against the certificate at SigningCertURL, fetched over HTTPS
// only from a host matching the allowlist and cached.
type SNS struct {
	hosts  []string // patterns; "*" matches exactly one DNS label
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewSNS returns a verifier trusting certificates from hosts matching one of the
// patterns (e.g. "sns.*.amazonaws.com"). client fetches certificates and confirms
// subscriptions; nil uses a client with a 10 s timeout that follows no redirects
// (a redirect could lead off the allowlist).
func NewSNS(hosts []string, client *http.Client) *SNS {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &SNS{hosts: hosts, client: client, now: time.Now, certs: map[string]*x509.Certificate{}}
}

// snsMessage is the SNS HTTP(S) delivery body.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
}

// AllowedHost reports whether host matches one of the allowlist patterns.
func (s *SNS) AllowedHost(host string) bool {
	host = strings.ToLower(host)
	for _, p := range s.hosts {
		if matchHost(strings.ToLower(strings.TrimSpace(p)), host) {
			return true
		}
	}
	return false
}

func matchHost(pattern, host string) bool {
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if pl[i] != "*" && pl[i] != hl[i] {
			return false
		}
		if pl[i] == "*" && hl[i] == "" {
			return false
		}
	}
	return true
}

// checkURL accepts only https URLs on the allowlist (no credentials, default or
// explicit port as given by the allowlisted host).
func (s *SNS) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || !s.AllowedHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: %q is not an https URL on the SNS certificate host allowlist", ErrSignature, raw)
	}
	return u, nil
}

func (s *SNS) cert(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := s.checkURL(raw)
	if err != nil {
		return nil, err
	}
	if path.Ext(u.Path) != ".pem" {
		return nil, fmt.Errorf("%w: signing certificate URL must end in .pem", ErrSignature)
	}
	s.mu.Lock()
	c, ok := s.certs[u.String()]
	s.mu.Unlock()
	if ok && s.now().Before(c.NotAfter) {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch SNS signing certificate: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		return nil, fmt.Errorf("%w: signing certificate is not PEM", ErrSignature)
	}
	c, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: signing certificate: %w", ErrSignature, err)
	}
	if now := s.now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, fmt.Errorf("%w: signing certificate is not valid now", ErrSignature)
	}
	s.mu.Lock()
	if len(s.certs) > 100 {
		clear(s.certs) // a handful of regions at most; never let it grow unbounded
	}
	s.certs[u.String()] = c
	s.mu.Unlock()
	return c, nil
}

// stringToSign is the canonical form SNS signs, which differs by message type.
func (m *snsMessage) stringToSign() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// SNSResult is what one SNS request amounted to.
type SNSResult struct {
	Confirmed bool    // a SubscriptionConfirmation was confirmed
	Events    []Event // SES events in a Notification
}

// Handle verifies one SNS request and acts on it: a SubscriptionConfirmation is
// confirmed by fetching its SubscribeURL (allowlisted hosts only), a Notification
// carrying an SES event is mapped.
func (s *SNS) Handle(ctx context.Context, body []byte) (SNSResult, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Type == "" || m.MessageID == "" {
		return SNSResult{}, fmt.Errorf("%w: not an SNS message", ErrPayload)
	}
	if err := s.verify(ctx, &m); err != nil {
		return SNSResult{}, err
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		u, err := s.checkURL(m.SubscribeURL)
		if err != nil {
			return SNSResult{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return SNSResult{}, err
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return SNSResult{}, fmt.Errorf("confirm SNS subscription: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return SNSResult{}, fmt.Errorf("confirm SNS subscription: HTTP %d", resp.StatusCode)
		}
		return SNSResult{Confirmed: true}, nil
	case "Notification":
		ev, ok, err := sesEvent(m.MessageID, []byte(m.Message))
		if err != nil || !ok {
			return SNSResult{}, err
		}
		ev.Raw = body
		return SNSResult{Events: []Event{ev}}, nil
	}
	return SNSResult{}, nil // UnsubscribeConfirmation: nothing to do
}

func (s *SNS) verify(ctx context.Context, m *snsMessage) error {
	var h crypto.Hash
	var sum []byte
	switch m.SignatureVersion {
	case "1":
		d := sha1.Sum([]byte(m.stringToSign()))
		h, sum = crypto.SHA1, d[:]
	case "2":
		d := sha256.Sum256([]byte(m.stringToSign()))
		h, sum = crypto.SHA256, d[:]
	default:
		return fmt.Errorf("%w: unknown SignatureVersion %q", ErrSignature, m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrSignature)
	}
	cert, err := s.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: signing certificate has no RSA key", ErrSignature)
	}
	if err := rsa.VerifyPKCS1v15(pub, h, sum, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// sesNotification covers both SES event publishing ("eventType") and the older
// identity notifications ("notificationType").
type sesNotification struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		MessageID     string `json:"messageId"`
		Timestamp     time.Time
		Headers       []struct{ Name, Value string }
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp    time.Time `json:"timestamp"`
		ReportingMTA string    `json:"reportingMTA"`
		RemoteMtaIP  string    `json:"remoteMtaIp"`
	} `json:"bounce"`
	Delivery *struct {
		Timestamp    time.Time `json:"timestamp"`
		Recipients   []string  `json:"recipients"`
		SMTPResponse string    `json:"smtpResponse"`
		ReportingMTA string    `json:"reportingMTA"`
		RemoteMtaIP  string    `json:"remoteMtaIp"`
	} `json:"delivery"`
	DeliveryDelay *struct {
		Timestamp         time.Time `json:"timestamp"`
		ReportingMTA      string    `json:"reportingMTA"`
		DelayedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"delayedRecipients"`
	} `json:"deliveryDelay"`
}

func sesEvent(snsID string, msg []byte) (Event, bool, error) {
	var n sesNotification
	if err := json.Unmarshal(msg, &n); err != nil {
		return Event{}, false, fmt.Errorf("%w: SES event: %w", ErrPayload, err)
	}
	typ := n.EventType
	if typ == "" {
		typ = n.NotificationType
	}
	ev := Event{Provider: "ses", EventID: snsID, MessageID: trimID(n.Mail.CommonHeaders.MessageID)}
	if ev.MessageID == "" {
		for _, h := range n.Mail.Headers {
			if strings.EqualFold(h.Name, "Message-ID") {
				ev.MessageID = trimID(h.Value)
			}
		}
	}
	switch typ {
	case "Delivery":
		if n.Delivery == nil {
			return Event{}, false, fmt.Errorf("%w: Delivery without delivery", ErrPayload)
		}
		d := n.Delivery
		ev.At = d.Timestamp
		ev.Report = dsn.Report{Kind: dsn.KindDelivered, Action: "delivered", ReportingMTA: d.ReportingMTA, RemoteMTA: d.RemoteMtaIP,
			Diagnostic: d.SMTPResponse, Status: statusInText.FindString(d.SMTPResponse)}
		if len(d.Recipients) > 0 {
			ev.Report.Recipient = d.Recipients[0]
		}
		if ev.Report.Status == "" {
			ev.Report.Status = "2.0.0"
		}
	case "Bounce":
		if n.Bounce == nil || len(n.Bounce.BouncedRecipients) == 0 {
			return Event{}, false, fmt.Errorf("%w: Bounce without recipients", ErrPayload)
		}
		b, r := n.Bounce, n.Bounce.BouncedRecipients[0]
		ev.At = b.Timestamp
		ev.Report = bounceFrom(r.EmailAddress, r.Status, stripType(r.DiagnosticCode), b.BounceType == "Permanent")
		ev.Report.ReportingMTA, ev.Report.RemoteMTA = stripType(b.ReportingMTA), b.RemoteMtaIP
	case "DeliveryDelay":
		if n.DeliveryDelay == nil || len(n.DeliveryDelay.DelayedRecipients) == 0 {
			return Event{}, false, fmt.Errorf("%w: DeliveryDelay without recipients", ErrPayload)
		}
		d, r := n.DeliveryDelay, n.DeliveryDelay.DelayedRecipients[0]
		ev.At = d.Timestamp
		ev.Report = dsn.Report{Kind: dsn.KindDelayed, Action: "delayed", Recipient: r.EmailAddress, Status: r.Status,
			Diagnostic: stripType(r.DiagnosticCode), ReportingMTA: d.ReportingMTA}
	default:
		// Send, Open, Click, Complaint, ...: opens and clicks are measured by the
		// gateway itself, where they can be classified.
		return Event{}, false, nil
	}
	ev.Report.Format = "ses"
	return ev, true, nil
}
