package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/mail"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// CollectorUser is a person of a tenant's accounts-receivable team who signs in to
// the collector workspace. A user belongs to exactly one tenant and sees only its
// invoices.
type CollectorUser struct {
	ID           string
	TenantID     string
	Email        string // stored lower-case; sign-in is by e-mail
	PasswordHash string // argon2id PHC string
	CreatedAt    time.Time
}

// CollectorSession is a signed-in browser. Only the SHA-256 of its id is stored: a
// leaked database yields no usable cookie.
type CollectorSession struct {
	UserID     string
	TenantID   string
	Email      string
	CSRF       string // the synchronizer token every form of this session must carry
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// InvoiceSummary is one row of a search result or of the worklist.
type InvoiceSummary struct {
	ID           string
	Number       string
	CustomerID   string
	CustomerName string
	ContactEmail string
	Currency     string
	DueDate      time.Time
	AmountDue    string
	Status       Status
	DaysOverdue  int
}

// Artefact is a stored piece of evidence of one invoice: the PDF, the e-mail as
// sent, attachments, DSNs. It is found through the event that recorded it.
type Artefact struct {
	Name        string
	Key         string
	SHA256      string
	Size        int64
	Event       EventType
	ContentType string // empty when unknown
}

// CollectorStore is what the collector workspace needs from storage.
type CollectorStore interface {
	// CreateCollectorUser stores a user. Errors: KindNotFound (no such tenant),
	// KindConflict (e-mail already used), KindUnavailable.
	CreateCollectorUser(ctx context.Context, u CollectorUser) error
	// CollectorUserByEmail finds a user by lower-case e-mail. Errors: KindNotFound, KindUnavailable.
	CollectorUserByEmail(ctx context.Context, email string) (CollectorUser, error)
	// CreateCollectorSession stores a new session under idHash and, in the same
	// transaction, deletes the session under replaces (if any), so a browser never
	// holds two, and the user's sessions last seen before idleSince or created before
	// createdSince, so ended sessions do not pile up. Errors: KindUnavailable.
	CreateCollectorSession(ctx context.Context, idHash []byte, s CollectorSession, replaces []byte, idleSince, createdSince time.Time) error
	// TouchCollectorSession returns the session under idHash when it was last seen
	// after idleSince and created after createdSince, and marks it seen at now.
	// Errors: KindNotFound (unknown or expired), KindUnavailable.
	TouchCollectorSession(ctx context.Context, idHash []byte, now, idleSince, createdSince time.Time) (CollectorSession, error)
	// DeleteCollectorSession removes a session; a missing one is not an error.
	// Errors: KindUnavailable.
	DeleteCollectorSession(ctx context.Context, idHash []byte) error
	// SearchInvoices finds the tenant's invoices whose number, customer id, customer
	// name or contact e-mail matches q. Errors: KindUnavailable.
	SearchInvoices(ctx context.Context, tenantID, q string, today time.Time, limit int) ([]InvoiceSummary, error)
	// Worklist returns the tenant's past-due invoices with an amount due and no
	// human engagement, the most urgent first. Errors: KindUnavailable.
	Worklist(ctx context.Context, tenantID string, today time.Time, limit int) ([]InvoiceSummary, error)
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
	// Events returns an invoice's timeline, oldest first. Errors: KindNotFound, KindUnavailable.
	Events(ctx context.Context, tenantID, invoiceID string) ([]Event, error)
}

// LoginLimiter counts sign-in attempts. Implemented by storage/cache.
type LoginLimiter interface {
	// LoginAttempt counts one attempt for the account and for the client address and
	// returns how long to wait when either is over its limit (0 when allowed).
	// Errors: KindUnavailable.
	LoginAttempt(ctx context.Context, account, ip string) (time.Duration, error)
	// LoginSucceeded forgets the account's failed attempts. Errors: KindUnavailable.
	LoginSucceeded(ctx context.Context, account string) error
}

// ProofBundler builds an invoice's signed evidence bundle (proof.zip).
// Implemented by *Proofs.
type ProofBundler interface {
	// Bundle returns the bundle's bytes and file name. Errors: KindNotFound,
	// KindConflict (nothing to prove yet), KindUnavailable.
	Bundle(ctx context.Context, tenantID, invoiceID string) ([]byte, string, error)
}

// DisputeDesk raises, resolves and lists disputes. Implemented by *Disputes.
type DisputeDesk interface {
	// List returns an invoice's disputes, newest first. Errors: KindNotFound, KindUnavailable.
	List(ctx context.Context, tenantID, invoiceID string) ([]Dispute, error)
	// Open records a dispute. Errors: KindInvalid, KindNotFound, KindUnavailable.
	Open(ctx context.Context, tenantID, invoiceID string, in DisputeInput) (*Dispute, error)
	// Resolve settles an open dispute. Errors: KindInvalid, KindNotFound,
	// KindConflict (already resolved), KindUnavailable.
	Resolve(ctx context.Context, tenantID, disputeID string, in ResolveInput) (*Dispute, error)
}

var (
	_ ProofBundler = (*Proofs)(nil)
	_ DisputeDesk  = (*Disputes)(nil)
)

// CollectorConfig bounds sessions.
type CollectorConfig struct {
	IdleTimeout time.Duration // a session unused this long is gone
	MaxAge      time.Duration // a session is gone this long after sign-in, used or not
}

// Collector is the collector workspace's use cases: sign-in, search, the worklist,
// the invoice file with its evidence, and disputes.
type Collector struct {
	store    CollectorStore
	archive  Archive
	limiter  LoginLimiter
	bundler  ProofBundler // nil until the proof work is wired
	disputes DisputeDesk  // nil until the proof work is wired
	cfg      CollectorConfig
	now      func() time.Time
	log      *slog.Logger
	// dummyHash is verified against when the e-mail is unknown, so that the answer
	// takes as long as for a wrong password and does not reveal which accounts exist.
	dummyHash string
}

// NewCollector returns the collector use cases. bundler and disputes may be nil: the
// workspace then says the feature is not available.
func NewCollector(store CollectorStore, archive Archive, limiter LoginLimiter, bundler ProofBundler, disputes DisputeDesk,
	cfg CollectorConfig, now func() time.Time, log *slog.Logger) (*Collector, error) {
	dummy, err := HashPassword("not a password: equalises sign-in timing")
	if err != nil {
		return nil, err
	}
	return &Collector{store: store, archive: archive, limiter: limiter, bundler: bundler, disputes: disputes,
		cfg: cfg, now: now, log: log, dummyHash: dummy}, nil
}

// NormalizeEmail is how collector e-mails are stored and looked up.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser validates and stores a collector user of tenantID.
// Errors: KindInvalid (every bad field), KindNotFound (tenant), KindConflict.
func (c *Collector) CreateUser(ctx context.Context, tenantID, email, password string) (CollectorUser, error) {
	var p Problems
	email = NormalizeEmail(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		p.Add("email", "invalid", "give a bare e-mail address like ann@example.com")
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLen || len(password) > MaxPasswordLen {
		p.Add("password", "length", fmt.Sprintf("use a password of %d to %d characters", MinPasswordLen, MaxPasswordLen))
	}
	if !ValidID("ten", tenantID) {
		p.Add("tenant", "invalid", "give a tenant id like ten_... as printed by `invoicegw tenant create`")
	}
	if err := p.Err("the collector user is invalid"); err != nil {
		return CollectorUser{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return CollectorUser{}, Wrap(KindInternal, err, "hash password")
	}
	u := CollectorUser{ID: NewID("usr"), TenantID: tenantID, Email: email, PasswordHash: hash, CreatedAt: c.now().UTC()}
	if err := c.store.CreateCollectorUser(ctx, u); err != nil {
		return CollectorUser{}, err
	}
	return u, nil
}

// KindThrottled is the kind of error Login returns when an account or address made
// too many attempts; Detail["retry_after"] holds the wait in seconds. It is the
// collector's own kind: the API has no sign-in.
const KindThrottled Kind = "throttled"

// Login checks an e-mail and password and opens a new session. previousID is the
// session cookie the browser presented, if any: it is deleted, and the new session
// gets a new random id, so an id planted before sign-in is never promoted (no
// session fixation). Errors: KindUnauthorized (wrong e-mail or password, one
// message for both), KindThrottled, KindUnavailable.
func (c *Collector) Login(ctx context.Context, email, password, ip, previousID string) (id string, s CollectorSession, err error) {
	email = NormalizeEmail(email)
	wait, err := c.limiter.LoginAttempt(ctx, email, ip)
	if err != nil {
		return "", s, err
	}
	if wait > 0 {
		mins := int((wait + time.Minute - 1) / time.Minute)
		return "", s, &Error{Kind: KindThrottled,
			Message: fmt.Sprintf("Too many sign-in attempts. Wait %d minute(s) and try again.", mins),
			Detail:  map[string]string{"retry_after": fmt.Sprint(int(wait.Seconds()))}}
	}
	wrong := Errorf(KindUnauthorized, "The e-mail or password is wrong.")
	if len(password) > MaxPasswordLen {
		return "", s, wrong
	}
	u, err := c.store.CollectorUserByEmail(ctx, email)
	if ErrorKind(err) == KindNotFound {
		_, _ = VerifyPassword(c.dummyHash, password)
		return "", s, wrong
	}
	if err != nil {
		return "", s, err
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return "", s, Wrap(KindInternal, err, "verify password")
	}
	if !ok {
		c.log.InfoContext(ctx, "collector sign-in refused", "user_id", u.ID)
		return "", s, wrong
	}
	if err := c.limiter.LoginSucceeded(ctx, email); err != nil {
		c.log.WarnContext(ctx, "reset sign-in attempts", "err", err)
	}
	id, err = randomToken()
	if err != nil {
		return "", s, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", s, err
	}
	now := c.now().UTC()
	s = CollectorSession{UserID: u.ID, TenantID: u.TenantID, Email: u.Email, CSRF: csrf, CreatedAt: now, LastSeenAt: now}
	var replaces []byte
	if previousID != "" {
		replaces = hashToken(previousID)
	}
	if err := c.store.CreateCollectorSession(ctx, hashToken(id), s, replaces, now.Add(-c.cfg.IdleTimeout), now.Add(-c.cfg.MaxAge)); err != nil {
		return "", CollectorSession{}, err
	}
	c.log.InfoContext(ctx, "collector signed in", "user_id", u.ID, "tenant_id", u.TenantID)
	return id, s, nil
}

// Session returns the live session behind a cookie value and records its use.
// Errors: KindUnauthorized (unknown, expired or malformed), KindUnavailable.
func (c *Collector) Session(ctx context.Context, id string) (CollectorSession, error) {
	if !validToken(id) {
		return CollectorSession{}, Errorf(KindUnauthorized, "sign in to continue")
	}
	now := c.now().UTC()
	s, err := c.store.TouchCollectorSession(ctx, hashToken(id), now, now.Add(-c.cfg.IdleTimeout), now.Add(-c.cfg.MaxAge))
	if ErrorKind(err) == KindNotFound {
		return CollectorSession{}, Errorf(KindUnauthorized, "your session has ended; sign in again")
	}
	return s, err
}

// Logout ends a session. Errors: KindUnavailable.
func (c *Collector) Logout(ctx context.Context, id string) error {
	if !validToken(id) {
		return nil
	}
	return c.store.DeleteCollectorSession(ctx, hashToken(id))
}

// CheckCSRF reports whether a form's token is the session's, in constant time.
func (s CollectorSession) CheckCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

// maxQueryLen bounds a search; no invoice number or e-mail is longer.
const maxQueryLen = 200

// Search finds the tenant's invoices by number, customer id or name, or contact e-mail.
// Errors: KindInvalid (query too long), KindUnavailable.
func (c *Collector) Search(ctx context.Context, tenantID, q string) ([]InvoiceSummary, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	if len(q) > maxQueryLen {
		return nil, &Error{Kind: KindInvalid, Message: "the search is too long",
			Fields: []FieldError{{Field: "q", Code: "too_long", Message: fmt.Sprintf("search with at most %d characters", maxQueryLen)}}}
	}
	return c.store.SearchInvoices(ctx, tenantID, q, c.today(), 50)
}

// Worklist returns the invoices to call first: past due, money owed, and nobody at
// the customer has shown any sign of having seen them.
func (c *Collector) Worklist(ctx context.Context, tenantID string) ([]InvoiceSummary, error) {
	return c.store.Worklist(ctx, tenantID, c.today(), 100)
}

func (c *Collector) today() time.Time {
	y, m, d := c.now().UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// InvoiceFile is everything the invoice page shows.
type InvoiceFile struct {
	Record            *Record
	Events            []Event
	Artefacts         []Artefact
	Disputes          []Dispute
	DisputesAvailable bool
	BundleAvailable   bool
	Today             time.Time
}

// Invoice returns one invoice of the tenant with its timeline, artefacts and
// disputes. Another tenant's invoice is KindNotFound, like a missing one.
func (c *Collector) Invoice(ctx context.Context, tenantID, id string) (*InvoiceFile, error) {
	if !ValidID("inv", id) {
		return nil, Errorf(KindNotFound, "invoice not found")
	}
	r, err := c.store.Invoice(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	evs, err := c.store.Events(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	f := &InvoiceFile{Record: r, Events: evs, Artefacts: ArtefactsOf(r, evs), Today: c.today(),
		BundleAvailable: c.bundler != nil, DisputesAvailable: c.disputes != nil}
	if c.disputes != nil {
		if f.Disputes, err = c.disputes.List(ctx, tenantID, id); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Artefact returns one artefact of the invoice, found by its SHA-256 among the
// artefacts its events recorded, with bytes checked against that hash: evidence that
// changed is not evidence. Errors: KindNotFound, KindInternal (hash mismatch),
// KindUnavailable.
func (c *Collector) Artefact(ctx context.Context, tenantID, invoiceID, sha string) (Artefact, []byte, error) {
	f, err := c.Invoice(ctx, tenantID, invoiceID)
	if err != nil {
		return Artefact{}, nil, err
	}
	for _, a := range f.Artefacts {
		if a.SHA256 != sha {
			continue
		}
		data, err := c.archive.Get(ctx, a.Key)
		if err != nil {
			return Artefact{}, nil, err
		}
		if got := sha256Hex(data); got != a.SHA256 {
			return Artefact{}, nil, &Error{Kind: KindInternal, Message: "the archived artefact does not match its recorded hash",
				Err: fmt.Errorf("artefact %s: sha256 %s, recorded %s", a.Key, got, a.SHA256)}
		}
		return a, data, nil
	}
	return Artefact{}, nil, Errorf(KindNotFound, "artefact not found")
}

// PDF returns the invoice's archived PDF, checked against its recorded hash.
// Errors: KindNotFound, KindConflict (not archived yet), KindInternal, KindUnavailable.
func (c *Collector) PDF(ctx context.Context, tenantID, invoiceID string) (*Record, []byte, error) {
	if !ValidID("inv", invoiceID) {
		return nil, nil, Errorf(KindNotFound, "invoice not found")
	}
	r, err := c.store.Invoice(ctx, tenantID, invoiceID)
	if err != nil {
		return nil, nil, err
	}
	data, err := fetchPDF(ctx, c.archive, r)
	return r, data, err
}

// ProofBundle returns the invoice's evidence bundle. Errors: KindNotFound (also when
// bundles are not available in this build), KindConflict, KindUnavailable.
func (c *Collector) ProofBundle(ctx context.Context, tenantID, invoiceID string) (string, []byte, error) {
	if !ValidID("inv", invoiceID) || c.bundler == nil {
		return "", nil, Errorf(KindNotFound, "proof bundle not found")
	}
	if _, err := c.store.Invoice(ctx, tenantID, invoiceID); err != nil {
		return "", nil, err
	}
	data, name, err := c.bundler.Bundle(ctx, tenantID, invoiceID)
	return name, data, err
}

// RaiseDispute records a dispute on one of the tenant's invoices, raised by the
// signed-in collector. Errors: KindInvalid, KindNotFound, KindUnavailable.
func (c *Collector) RaiseDispute(ctx context.Context, s CollectorSession, invoiceID string, reason DisputeReason, note string) (*Dispute, error) {
	if !ValidID("inv", invoiceID) || c.disputes == nil {
		return nil, Errorf(KindNotFound, "invoice not found")
	}
	return c.disputes.Open(ctx, s.TenantID, invoiceID, DisputeInput{Reason: reason, Note: note,
		Source: DisputeFromCollector, OpenedBy: s.Email})
}

// ResolveDispute settles one of the invoice's open disputes. A dispute of another
// invoice is KindNotFound, so a URL cannot mix one invoice's page with another's
// dispute. Errors: KindInvalid, KindNotFound, KindConflict, KindUnavailable.
func (c *Collector) ResolveDispute(ctx context.Context, s CollectorSession, invoiceID, disputeID string, outcome DisputeOutcome, note string) (*Dispute, error) {
	if !ValidID("inv", invoiceID) || c.disputes == nil {
		return nil, Errorf(KindNotFound, "invoice not found")
	}
	ds, err := c.disputes.List(ctx, s.TenantID, invoiceID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(ds, func(d Dispute) bool { return d.ID == disputeID }) {
		return nil, Errorf(KindNotFound, "dispute not found")
	}
	return c.disputes.Resolve(ctx, s.TenantID, disputeID, ResolveInput{Outcome: outcome, Note: note, ResolvedBy: s.Email})
}

// ArtefactsOf lists the stored evidence of an invoice: its PDF, and every object its
// events reference under the proof bundle's convention (an object in the detail with
// "key" and "sha256", or a "<name>_key"/"<name>_sha256" pair; see artefactsOf). Reading
// the events rather than a fixed list picks up what later features archive (the
// e-mail as sent, DSNs, provider payloads, dispute attachments) without changes here,
// and the workspace offers exactly the files the bundle carries.
func ArtefactsOf(r *Record, evs []Event) []Artefact {
	var out []Artefact
	seen := map[string]bool{}
	add := func(a Artefact) {
		if a.Key == "" || seen[a.SHA256] {
			return
		}
		seen[a.SHA256] = true
		out = append(out, a)
	}
	if r.PDF != nil {
		add(Artefact{Name: PDFFilename(r.Invoice.Number), Key: r.PDF.Key, SHA256: r.PDF.SHA256, Size: r.PDF.Size,
			Event: EventArchived, ContentType: "application/pdf"})
	}
	for _, e := range evs {
		for _, a := range artefactsOf(e) {
			add(Artefact{Name: path.Base(a.ArchiveKey), Key: a.ArchiveKey, SHA256: a.SHA256, Size: a.Size,
				Event: e.Type, ContentType: a.ContentType})
		}
	}
	return out
}

// Session ids and CSRF tokens: 256 random bits, base64url without padding (43 characters).
const tokenLen = 43

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Wrap(KindInternal, err, "generate token")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func validToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func hashToken(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// NewCSRFToken returns a fresh random token for forms shown before sign-in.
func NewCSRFToken() (string, error) { return randomToken() }
