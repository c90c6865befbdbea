package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/invoicegw/invoicegw/tracking"
)

// TrackStore is what showing the hosted page needs from storage.
type TrackStore interface {
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
}

// Classifier tells people from machines. Implemented by tracking.
type Classifier interface {
	Classify(h tracking.Hit) (tracking.Class, string)
}

// Hit is one request on a tracked URL, as the HTTP layer saw it.
type Hit struct {
	Method    string
	UserAgent string
	IP        string // the client address, already resolved through trusted proxies
	Prefetch  bool   // the request declared itself a prefetch (Purpose / Sec-Purpose / X-Moz)
}

// Timing windows of the classifier's behavioural signals.
const (
	// allLinksWindow: a hit this soon after another link of the same message (the
	// honeypot) comes from whatever walked every link.
	allLinksWindow = 10 * time.Second
	// settingsTTL bounds how long a gateway keeps a tenant's policy in memory: a
	// change made through another instance applies everywhere within it.
	settingsTTL = 30 * time.Second
	// csrfMaxAge is how long a hosted-page form stays valid.
	csrfMaxAge = 24 * time.Hour
	// maxSentCache bounds the in-memory sent-at cache; it is cleared when full.
	maxSentCache = 100_000
	// maxTokenCache bounds the in-memory token cache; it is cleared when full.
	maxTokenCache = 100_000
)

// TrackerDeps is what the Tracker calls.
type TrackerDeps struct {
	Tokens     TokenResolver // token hash -> delivery; the Redis cache in front of Postgres
	Store      TrackStore
	Links      LinkStore
	Settings   TrackingSettingsStore
	Hits       HitRecorder
	Events     EventRecorder
	Queries    QueryRecorder
	Reports    EngagementStore
	Archive    Archive
	Classifier Classifier
	// CSRFKey signs the hosted page's forms; every gateway instance behind one public
	// URL must share it.
	CSRFKey []byte
	// HitTimeout bounds how long a hosted-page request waits for its hit to be
	// stored (default 3s). Recording a hit is bounded by the HitRecorder itself.
	HitTimeout time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Tracker records what a recipient's side did with a delivered invoice: pixel
// fetches, link clicks, page views, downloads, confirmations and queries. Every hit
// is stored with its classification; only the first of each kind and class becomes an
// evidence event, and only human events say a person saw the invoice.
type Tracker struct {
	d TrackerDeps

	mu       sync.Mutex
	settings map[string]cachedSettings // by tenant
	sent     map[string]time.Time      // by delivery; sent_at never changes once set
	// tokens is a small in-process cache in front of the Redis cache: a token never
	// changes once issued (revocation is checked separately, on the link paths), and
	// the pixel path saves a network round trip per hit.
	tokens map[string]Token // by the token itself
}

type cachedSettings struct {
	s     TrackingSettings
	until time.Time
}

func NewTracker(d TrackerDeps) *Tracker {
	if d.HitTimeout <= 0 {
		d.HitTimeout = 3 * time.Second
	}
	return &Tracker{d: d, settings: map[string]cachedSettings{}, sent: map[string]time.Time{}, tokens: map[string]Token{}}
}

// Open records a pixel fetch. Unknown tokens and tenants with tracking off record
// nothing and are no error: the caller answers with the image regardless. An error
// means the hit could not be stored (KindUnavailable); the caller still answers with
// the image, but not with 2xx.
func (t *Tracker) Open(ctx context.Context, token string, hit Hit) error {
	tok, err := t.resolve(ctx, token, TokenPixel)
	if err != nil {
		if ErrorKind(err) == KindNotFound {
			return nil
		}
		return err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return err
	}
	if s.PrivacyMode == PrivacyOff {
		return nil
	}
	return t.record(ctx, tok, EventOpened, hit, s, false)
}

// Click records a tracked-link hit and returns where to send the visitor: the hosted
// page of the same delivery and nowhere else. For the honeypot it returns "" after
// recording: the caller answers with an empty page. Errors: KindNotFound for a forged,
// unknown, expired or revoked link; KindUnavailable.
func (t *Tracker) Click(ctx context.Context, token string, hit Hit) (string, error) {
	tok, err := t.resolve(ctx, token, TokenLink, TokenHoneypot)
	if err != nil {
		return "", err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return "", err
	}
	if tok.Kind == TokenHoneypot {
		if s.PrivacyMode != PrivacyOff {
			if err := t.recordStored(ctx, tok, EventClicked, hit, s, false); err != nil {
				return "", err
			}
		}
		return "", nil
	}
	if _, err := t.openable(ctx, tok, s); err != nil {
		return "", err
	}
	if s.PrivacyMode != PrivacyOff {
		if err := t.recordStored(ctx, tok, EventClicked, hit, s, true); err != nil {
			return "", err
		}
	}
	return "/i/" + token, nil
}

// PageView is what the hosted page shows and the form token its forms carry.
type PageView struct {
	Record    *Record
	CSRF      string
	ExpiresAt time.Time
}

// Page records a view of the hosted invoice page and returns what it shows.
// Errors: KindNotFound (also expired or revoked), KindUnavailable.
func (t *Tracker) Page(ctx context.Context, token string, hit Hit) (*PageView, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return nil, err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return nil, err
	}
	pv, err := t.openable(ctx, tok, s)
	if err != nil {
		return nil, err
	}
	if s.PrivacyMode != PrivacyOff && hit.Method != "HEAD" {
		if err := t.recordStored(ctx, tok, EventViewed, hit, s, true); err != nil {
			return nil, err
		}
	}
	pv.CSRF = t.csrfToken(token, t.d.Now())
	return pv, nil
}

// PageAgain returns the page view without recording a hit, for re-showing the page
// after a form post.
func (t *Tracker) PageAgain(ctx context.Context, token string) (*PageView, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return nil, err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return nil, err
	}
	pv, err := t.openable(ctx, tok, s)
	if err != nil {
		return nil, err
	}
	pv.CSRF = t.csrfToken(token, t.d.Now())
	return pv, nil
}

// Download records a PDF download from the hosted page and returns the archived
// bytes, checked against their recorded hash. Errors: KindNotFound, KindConflict
// (not archived yet), KindUnavailable.
func (t *Tracker) Download(ctx context.Context, token string, hit Hit) (*Record, []byte, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return nil, nil, err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return nil, nil, err
	}
	pv, err := t.openable(ctx, tok, s)
	if err != nil {
		return nil, nil, err
	}
	data, err := fetchPDF(ctx, t.d.Archive, pv.Record)
	if err != nil {
		return nil, nil, err
	}
	if s.PrivacyMode != PrivacyOff && hit.Method != "HEAD" {
		if err := t.recordStored(ctx, tok, EventDownloaded, hit, s, true); err != nil {
			return nil, nil, err
		}
	}
	return pv.Record, data, nil
}

// Form is what a person submits on the hosted page.
type Form struct {
	CSRF    string
	Name    string
	Message string // the query; unused when confirming
}

// machineRefusal is what a machine-classified request is told when it posts a
// hosted-page form: only a person can confirm receipt or raise a query.
const machineRefusal = "this request looks automated, so it cannot confirm receipt or raise a query; open the link in your browser"

// Acknowledge records that the person named in f confirmed receipt (level 6). Only a
// POST with a valid form token from a human-classified client counts. Errors:
// KindInvalid (fields "name", "csrf"), KindUnprocessable (a machine), KindNotFound,
// KindUnavailable.
func (t *Tracker) Acknowledge(ctx context.Context, token string, hit Hit, f Form) error {
	tok, s, name, cls, reason, err := t.checkForm(ctx, token, hit, f, false)
	if err != nil {
		return err
	}
	detail := t.hitDetail(hit, s, cls, reason)
	detail["name"] = name
	ev := NewEvent(tok.InvoiceID, tok.DeliveryID, EventAcknowledged, t.d.Now(), detail)
	if err := t.d.Events.RecordEvent(ctx, tok.TenantID, ev); err != nil {
		return fmt.Errorf("record acknowledged: %w", err)
	}
	return nil
}

// Query records a query the person raised on the hosted page, through the
// QueryRecorder. Errors as Acknowledge, plus field "message".
func (t *Tracker) Query(ctx context.Context, token string, hit Hit, f Form) error {
	tok, _, name, _, _, err := t.checkForm(ctx, token, hit, f, true)
	if err != nil {
		return err
	}
	if err := t.d.Queries.RaiseQuery(ctx, tok, name, strings.TrimSpace(f.Message)); err != nil {
		return fmt.Errorf("raise query: %w", err)
	}
	return nil
}

func (t *Tracker) checkForm(ctx context.Context, token string, hit Hit, f Form, withMessage bool) (Token, TrackingSettings, string, tracking.Class, string, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return Token{}, TrackingSettings{}, "", "", "", err
	}
	s, err := t.tenantSettings(ctx, tok.TenantID)
	if err != nil {
		return Token{}, s, "", "", "", err
	}
	if _, err := t.openable(ctx, tok, s); err != nil {
		return Token{}, s, "", "", "", err
	}
	var p Problems
	if !t.csrfValid(token, f.CSRF, t.d.Now()) {
		p.Add("csrf", "expired", "the form has expired; reload the page and submit it again")
	}
	name := strings.TrimSpace(f.Name)
	switch {
	case name == "":
		p.Add("name", "required", "type your name")
	case utf8.RuneCountInString(name) > 200 || strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name):
		p.Add("name", "invalid", "use at most 200 characters, on one line")
	}
	if withMessage {
		msg := strings.TrimSpace(f.Message)
		switch {
		case msg == "":
			p.Add("message", "required", "say what your query is about")
		case utf8.RuneCountInString(msg) > 4000:
			p.Add("message", "too_long", "use at most 4000 characters")
		case !utf8.ValidString(msg) || strings.IndexFunc(msg, func(r rune) bool {
			return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
		}) >= 0:
			// The message becomes evidence (JSON in the database, which refuses NUL).
			p.Add("message", "invalid", "write the query as plain text")
		}
	}
	if err := p.Err("the form has invalid fields"); err != nil {
		return Token{}, s, "", "", "", err
	}
	cls, reason := t.classify(ctx, tok, hit, false, t.d.Now())
	if cls == tracking.ClassMachine {
		t.d.Log.InfoContext(ctx, "hosted page form refused to a machine", "invoice_id", tok.InvoiceID, "reason", reason)
		return Token{}, s, "", "", "", Errorf(KindUnprocessable, machineRefusal)
	}
	return tok, s, name, cls, reason, nil
}

// openable loads the invoice behind a link token and checks that the link has not
// expired or been revoked. Both look exactly like an unknown link to the visitor.
func (t *Tracker) openable(ctx context.Context, tok Token, s TrackingSettings) (*PageView, error) {
	r, err := t.d.Store.Invoice(ctx, tok.TenantID, tok.InvoiceID)
	if err != nil {
		return nil, err
	}
	expires := s.LinksExpireAt(r.Invoice.DueDate.Time)
	if !t.d.Now().Before(expires) {
		return nil, Errorf(KindNotFound, "link expired")
	}
	revoked, err := t.d.Links.LinksRevoked(ctx, tok.DeliveryID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, Errorf(KindNotFound, "link revoked")
	}
	return &PageView{Record: r, ExpiresAt: expires}, nil
}

func (t *Tracker) resolve(ctx context.Context, token string, kinds ...TokenKind) (Token, error) {
	// Cached by the token as sent: only a well-formed token that resolved is ever
	// cached, and each token has exactly one accepted spelling, so a hit on the
	// cache skips decoding and hashing.
	t.mu.Lock()
	tok, cached := t.tokens[token]
	t.mu.Unlock()
	if !cached {
		hash, err := tracking.HashToken(token)
		if err != nil {
			return Token{}, Errorf(KindNotFound, "link not found")
		}
		tok, err = t.d.Tokens.ResolveToken(ctx, hash)
		if err != nil {
			return Token{}, err
		}
		t.mu.Lock()
		if len(t.tokens) >= maxTokenCache {
			clear(t.tokens)
		}
		t.tokens[token] = tok
		t.mu.Unlock()
	}
	if !slices.Contains(kinds, tok.Kind) {
		// A pixel token is no key to the page, and the other way round.
		return Token{}, Errorf(KindNotFound, "link not found")
	}
	return tok, nil
}

// classify runs the classifier with everything known about the hit, received at now.
// linkPath adds the all-links-at-once signal, which costs a query and so stays off the
// pixel path.
func (t *Tracker) classify(ctx context.Context, tok Token, hit Hit, linkPath bool, now time.Time) (tracking.Class, string) {
	th := tracking.Hit{Method: hit.Method, UserAgent: hit.UserAgent, Prefetch: hit.Prefetch,
		Honeypot: tok.Kind == TokenHoneypot}
	if ip, err := netip.ParseAddr(hit.IP); err == nil {
		th.IP = ip
	}
	if sent, ok := t.sentAt(ctx, tok.DeliveryID); ok {
		th.SinceSent = now.Sub(sent)
		if th.SinceSent <= 0 {
			th.SinceSent = time.Nanosecond // recorded after the hit's clock read: as fast as it gets
		}
	}
	if linkPath && tok.Kind != TokenHoneypot {
		kinds, err := t.d.Links.RecentHitKinds(ctx, tok.DeliveryID, now.Add(-allLinksWindow))
		if err != nil {
			t.d.Log.WarnContext(ctx, "recent hits unavailable; classifying without them", "err", err)
		}
		th.AllLinks = slices.Contains(kinds, TokenHoneypot)
	}
	class, reason := t.d.Classifier.Classify(th)
	return class, reason
}

func (t *Tracker) record(ctx context.Context, tok Token, typ EventType, hit Hit, s TrackingSettings, linkPath bool) error {
	// One clock read for the hit's time and its classification (reading the clock
	// is not free on a virtual machine, and the pixel read it three times).
	at := t.d.Now().UTC()
	class, reason := t.classify(ctx, tok, hit, linkPath, at)
	h := TrackHit{
		TenantID: tok.TenantID, InvoiceID: tok.InvoiceID, DeliveryID: tok.DeliveryID, TokenKind: tok.Kind,
		Event: typ, At: at, Method: hit.Method, Classification: string(class), Reason: reason, PrivacyMode: s.PrivacyMode,
	}
	if s.PrivacyMode == PrivacyFull {
		h.UserAgent, h.IPPrefix = hit.UserAgent, truncateIP(hit.IP)
	}
	// No timeout of our own: the recorder bounds its wait (a timer per request
	// was a sixth of the pixel's own CPU).
	if err := t.d.Hits.RecordHit(ctx, h); err != nil {
		return fmt.Errorf("record %s hit: %w", typ, err)
	}
	return nil
}

// recordStored is record for the hosted-page paths: it returns once the hit and its
// evidence are readable, so that the page a person sees next and the timeline read
// right after agree with what they just did. The pixel does not wait: an e-mail
// client shows nothing of it.
func (t *Tracker) recordStored(ctx context.Context, tok Token, typ EventType, hit Hit, s TrackingSettings, linkPath bool) error {
	if err := t.record(ctx, tok, typ, hit, s, linkPath); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.d.HitTimeout)
	defer cancel()
	if err := t.d.Hits.WaitStored(ctx); err != nil {
		return fmt.Errorf("store %s hit: %w", typ, err)
	}
	return nil
}

// hitDetail is the evidence detail of a hit, within the privacy mode.
func (t *Tracker) hitDetail(hit Hit, s TrackingSettings, class tracking.Class, reason string) map[string]string {
	d := map[string]string{"method": hit.Method, "classification": string(class), "reason": reason,
		"privacy_mode": string(s.PrivacyMode)}
	if s.PrivacyMode == PrivacyFull {
		d["user_agent"] = hit.UserAgent
		d["ip"] = truncateIP(hit.IP)
	}
	return d
}

// tenantSettings reads a tenant's policy through a short in-memory cache: the pixel
// path must not pay a database round trip for it.
func (t *Tracker) tenantSettings(ctx context.Context, tenantID string) (TrackingSettings, error) {
	now := t.d.Now()
	t.mu.Lock()
	c, ok := t.settings[tenantID]
	t.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.s, nil
	}
	s, err := t.d.Settings.TrackingSettings(ctx, tenantID)
	if err != nil {
		return TrackingSettings{}, err
	}
	t.mu.Lock()
	t.settings[tenantID] = cachedSettings{s: s, until: now.Add(settingsTTL)}
	t.mu.Unlock()
	return s, nil
}

// sentAt returns when the delivery was sent, from memory once known.
func (t *Tracker) sentAt(ctx context.Context, deliveryID string) (time.Time, bool) {
	t.mu.Lock()
	at, ok := t.sent[deliveryID]
	t.mu.Unlock()
	if ok {
		return at, true
	}
	p, err := t.d.Links.DeliverySentAt(ctx, deliveryID)
	if err != nil {
		t.d.Log.WarnContext(ctx, "sent time unavailable; classifying without it", "delivery_id", deliveryID, "err", err)
		return time.Time{}, false
	}
	if p == nil {
		return time.Time{}, false
	}
	t.mu.Lock()
	if len(t.sent) >= maxSentCache {
		clear(t.sent)
	}
	t.sent[deliveryID] = *p
	t.mu.Unlock()
	return *p, true
}

// Settings returns the tenant's tracking policy. Errors: KindUnavailable.
func (t *Tracker) Settings(ctx context.Context, tenantID string) (TrackingSettings, error) {
	return t.d.Settings.TrackingSettings(ctx, tenantID)
}

// SetSettings validates and stores the tenant's tracking policy. Errors: KindInvalid
// naming every bad field, KindUnavailable.
func (t *Tracker) SetSettings(ctx context.Context, tenantID string, s TrackingSettings) (TrackingSettings, error) {
	if err := s.Validate(); err != nil {
		return TrackingSettings{}, err
	}
	out, err := t.d.Settings.SetTrackingSettings(ctx, tenantID, s)
	if err != nil {
		return TrackingSettings{}, err
	}
	t.mu.Lock()
	delete(t.settings, tenantID)
	t.mu.Unlock()
	return out, nil
}

// RevokeLinks revokes a delivery's hosted links. Errors: KindNotFound, KindUnavailable.
func (t *Tracker) RevokeLinks(ctx context.Context, tenantID, deliveryID string) (time.Time, error) {
	return t.d.Links.RevokeLinks(ctx, tenantID, deliveryID)
}

// csrfToken binds a form to its link token and a time: base64url(unix seconds ||
// first 16 bytes of HMAC-SHA256(key, link token, unix seconds)).
func (t *Tracker) csrfToken(linkToken string, now time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], t.csrfMAC(linkToken, b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (t *Tracker) csrfValid(linkToken, value string, now time.Time) bool {
	// One spelling per token: the decoder would skip CR and LF and accept spare
	// bits in the last character, so the length is checked first and Strict rejects
	// the rest.
	if len(value) != base64.RawURLEncoding.EncodedLen(24) {
		return false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(raw) != 24 {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if now.Sub(issued) > csrfMaxAge || issued.Sub(now) > time.Minute {
		return false
	}
	return hmac.Equal(raw[8:], t.csrfMAC(linkToken, raw[:8]))
}

func (t *Tracker) csrfMAC(linkToken string, ts []byte) []byte {
	m := hmac.New(sha256.New, t.d.CSRFKey)
	m.Write([]byte("invoicegw hosted page form\x00"))
	m.Write([]byte(linkToken))
	m.Write([]byte{0})
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// maxUserAgent bounds a stored user agent; real ones stay well below it, and a
// header of megabytes would otherwise be copied into every hit and event.
const maxUserAgent = 512

// CleanUserAgent is the form in which a visitor's User-Agent is classified and kept:
// invalid UTF-8 replaced with U+FFFD, control characters but tab dropped, at most
// maxUserAgent bytes (cut at a character boundary). HTTP allows any byte above 0x7f
// in a header, and PostgreSQL refuses text that is not UTF-8: one such hit stored
// as it came would fail every batch of the hit log's drain behind it.
func CleanUserAgent(s string) string {
	clean := len(s) <= maxUserAgent
	for i := 0; clean && i < len(s); i++ {
		clean = (s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\t'
	}
	if clean {
		return s // the usual ASCII agent, without a copy
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) && r != '\t' {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxUserAgent {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncateIP keeps the network, not the host: /24 for IPv4, /48 for IPv6. Enough to
// tell a scanner's data centre from a home connection, not enough to find a person.
func truncateIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	bits := 48
	if addr.Unmap().Is4() {
		addr, bits = addr.Unmap(), 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// Page returns what the hosted invoice page shows.
func (r *Record) Page(pdfURL string) PageData {
	inv := r.Invoice
	pd := PageData{
		InvoiceNumber: inv.Number,
		SellerName:    inv.Seller.Name,
		CustomerName:  inv.Customer.Name,
		ContactName:   inv.Customer.Contact.Name,
		IssueDate:     inv.IssueDate.Format(time.DateOnly),
		DueDate:       inv.DueDate.Format(time.DateOnly),
		Currency:      inv.Currency,
		Subtotal:      r.Totals.Subtotal,
		Tax:           r.Totals.Tax,
		AmountDue:     r.Totals.AmountDue,
		Terms:         r.Terms,
		PDFURL:        pdfURL,
	}
	for i, l := range inv.Lines {
		amount := ""
		if i < len(r.Totals.Lines) {
			amount = r.Totals.Lines[i]
		}
		pd.Lines = append(pd.Lines, PageLine{Description: l.Description, Quantity: string(l.Quantity),
			UnitPrice: string(l.UnitPrice), TaxRate: string(l.TaxRate), Amount: amount})
	}
	return pd
}
