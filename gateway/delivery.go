package gateway

import (
	"context"
	"time"
)

// Status is where a delivery (one recipient of one invoice) stands. The invoice's
// status is its primary delivery's.
type Status string

const (
	StatusQueued         Status = "queued"          // accepted, delivery job enqueued
	StatusRendering      Status = "rendering"       // a worker is rendering the PDF and composing the message
	StatusArchived       Status = "archived"        // the exact message is in the archive; nothing sent yet
	StatusSending        Status = "sending"         // handed to SMTP; no answer recorded yet
	StatusDeferred       Status = "deferred"        // temporary failure, a retry is scheduled
	StatusSent           Status = "sent"            // our relay answered 250 to the message data
	StatusDelivered      Status = "delivered"       // the recipient's server accepted it
	StatusFailed         Status = "failed"          // permanent failure, nothing more will be tried
	StatusBounced        Status = "bounced"         // a DSN reported failure after sending
	StatusUnknownOutcome Status = "unknown_outcome" // the connection broke after the data: never resent blindly
)

// Final reports whether no delivery attempt will ever be made again for this status.
func (s Status) Final() bool {
	switch s {
	case StatusSent, StatusDelivered, StatusFailed, StatusBounced, StatusUnknownOutcome:
		return true
	}
	return false
}

// Tenant is one sending organisation; API keys and invoices belong to exactly one.
type Tenant struct {
	ID           string
	Name         string
	DefaultTerms string
}

// Object is a stored artefact: where it is and the SHA-256 of its exact bytes.
type Object struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Record is an accepted invoice as stored: the client's document plus what the
// gateway derived from it.
type Record struct {
	ID            string
	TenantID      string
	Invoice       Invoice
	Totals        Totals
	Terms         string // the terms text printed, resolved at intake
	TermsSHA256   string
	TermsVersion  string // id of the terms version printed (see TermsSource)
	TermsSource   string // "invoice", "customer" or "tenant": where the terms came from
	PayloadSHA256 string // of the request body as received
	Status        Status
	PDF           *Object // nil until archived
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Deliveries    []Delivery
}

// Document is everything the PDF prints, and nothing else: render/ turns it into bytes.
type Document struct {
	InvoiceID    string
	Invoice      Invoice
	Totals       Totals
	Terms        string
	TermsSHA256  string
	TermsVersion string   // printed under the terms
	Attachments  []string // file names of the proof-of-delivery documents, listed on the PDF
}

// Document returns what the invoice PDF of r prints.
func (r *Record) Document() Document {
	var names []string
	for _, a := range r.Invoice.Attachments {
		names = append(names, a.Filename)
	}
	return Document{InvoiceID: r.ID, Invoice: r.Invoice, Totals: r.Totals, Terms: r.Terms, TermsSHA256: r.TermsSHA256,
		TermsVersion: r.TermsVersion, Attachments: names}
}

// Delivery is one recipient of one invoice, with its own tracking tokens and events.
type Delivery struct {
	ID        string  `json:"id"`
	InvoiceID string  `json:"invoice_id"`
	TenantID  string  `json:"-"`
	Recipient Contact `json:"recipient"`
	Status    Status  `json:"status"`
	Attempts  int     `json:"attempts"`
	MessageID string  `json:"message_id,omitempty"`
	// BounceToken names this delivery in its envelope sender (VERP); see tracking.BounceAddress.
	BounceToken string `json:"-"`
	// Message is the archived MIME message: the exact bytes every attempt hands to SMTP.
	// Nil until archived; no attempt is made without it.
	Message   *Object    `json:"message,omitempty"`
	LastReply string     `json:"last_reply,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// TokenKind says what a tracking token opens.
type TokenKind string

const (
	TokenPixel TokenKind = "pixel" // the open pixel in the HTML e-mail
	TokenLink  TokenKind = "link"  // the tracked link, which redirects to the hosted page
	TokenPage  TokenKind = "page"  // the hosted invoice page and its PDF download
	// TokenHoneypot is a link hidden in the HTML e-mail: no person sees or clicks it,
	// so whatever fetches it is a machine walking every link.
	TokenHoneypot TokenKind = "honeypot"
)

// Token ties one opaque tracking token to its delivery. Only Hash is stored: a leaked
// database does not yield working links.
type Token struct {
	Hash       []byte
	Kind       TokenKind
	DeliveryID string
	InvoiceID  string
	TenantID   string
}

// Renderer turns an invoice into PDF bytes. Implemented by render.
type Renderer interface {
	// RenderInvoice returns the PDF. Errors are KindUnprocessable when the document
	// cannot be printed (e.g. text the font cannot draw), else KindInternal.
	RenderInvoice(doc Document) ([]byte, error)
}

// Archive keeps evidence artefacts. Implemented by storage/archive.
type Archive interface {
	// Put stores data under key. Errors: KindUnavailable when the store cannot be reached.
	Put(ctx context.Context, key, contentType string, data []byte) error
	// Get returns the bytes under key. Errors: KindNotFound, KindUnavailable.
	Get(ctx context.Context, key string) ([]byte, error)
}

// Attachment is a file attached to an outgoing e-mail.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Mail is one composed message to one recipient.
type Mail struct {
	MessageID    string // without angle brackets, e.g. "dlv_...@gw.example"
	From         Contact
	ReplyTo      string
	To           Contact
	EnvelopeFrom string // SMTP MAIL FROM (the bounce address); From's address when empty
	Subject      string
	Text         string
	HTML         string
	Attachments  []Attachment
	// ReadReceiptTo, when set, asks the recipient's client for a read receipt
	// (Disposition-Notification-To, RFC 8098).
	ReadReceiptTo string
	// Date is the message's Date header; zero means now.
	Date time.Time
	// DKIM signs the message when set.
	DKIM *DKIMKey
}

// DKIMKey is a tenant's DKIM signing identity.
type DKIMKey struct {
	Domain     string // d=
	Selector   string // s=
	PrivateKey string // PEM: PKCS#8 RSA or Ed25519, or PKCS#1 RSA
}

// SendResult is what the relay said when it took the message.
type SendResult struct {
	Reply string // the server's reply to the end of data, e.g. "250 2.0.0 Ok: queued as 2D86FD808B"
	Relay string // host:port the message was handed to
	// Direct delivery only: the recipient's own MX, so the reply is delivery evidence.
	Direct     bool
	MXHost     string
	MXIP       string
	TLSVersion string // "" when the session was not encrypted
}

// Envelope is the SMTP envelope of one message to one recipient.
type Envelope struct {
	From  string // MAIL FROM, the VERP bounce address
	To    string // RCPT TO
	EnvID string // DSN ENVID (RFC 3461): names the delivery in every DSN
}

// Mailer hands one message's exact bytes to SMTP. Implemented by gateway/mailer.
type Mailer interface {
	// Transmit sends msg as is (it is already archived and must not change) and returns
	// the server's reply to the message data. It requests DSNs (RET=HDRS,
	// NOTIFY=SUCCESS,FAILURE,DELAY, ENVID) where the server offers them. Errors are
	// *SendError.
	Transmit(ctx context.Context, env Envelope, msg []byte) (SendResult, error)
}

// MessageBuilder turns a Mail into the exact MIME bytes that are archived and sent,
// DKIM-signed when m.DKIM is set. Implemented by gateway/mailer.
type MessageBuilder interface {
	// BuildMessage errors are KindInvalid for a message that cannot be composed
	// (bad address, bad DKIM key), else KindInternal.
	BuildMessage(m Mail) ([]byte, error)
}

// SendPhase says how far an SMTP conversation got before it failed, which decides
// whether a retry could send the message twice.
type SendPhase int

const (
	// PhaseBeforeData: nothing was transmitted; retrying cannot double the message.
	PhaseBeforeData SendPhase = iota
	// PhaseAfterData: the message data was sent but no reply was read; the server may
	// have accepted it. Retrying could deliver it twice.
	PhaseAfterData
)

// SendError is a failed SMTP hand-over, classified.
type SendError struct {
	Permanent bool // a 5xx reply: retrying will not help
	Phase     SendPhase
	Reply     string // the server's reply, if any
	Err       error
}

func (e *SendError) Error() string {
	if e.Reply != "" {
		return "smtp send: " + e.Reply
	}
	return "smtp send: " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// EmailData is what the invoice e-mail templates show.
type EmailData struct {
	Locale        string // en, de, fr, es, nl; empty means en
	ContactName   string
	SellerName    string
	InvoiceNumber string
	AmountDue     string // formatted with the currency code, e.g. "EUR 71.36"
	DueDate       string // "2026-12-23"
	LinkURL       string // the tracked link to the hosted page
	PixelURL      string // the open pixel; empty when tracking is off
	HoneypotURL   string // the hidden link only machines follow; empty when tracking is off
	Attached      bool   // the PDF is attached (else only LinkURL reaches it)
	// Template is the tenant's own wording; nil uses the built-in one.
	Template *EmailTemplate
}

// PageData is what the hosted invoice page shows to its recipient.
type PageData struct {
	InvoiceNumber string
	SellerName    string
	CustomerName  string
	ContactName   string
	IssueDate     string
	DueDate       string
	Currency      string
	Subtotal      string
	Tax           string
	AmountDue     string
	Lines         []PageLine
	Terms         string
	PDFURL        string
	Form          PageForm // the confirm and query forms (trackpage.go)
}

// PageLine is one invoice line on the hosted page.
type PageLine struct {
	Description string
	Quantity    string
	UnitPrice   string
	TaxRate     string
	Amount      string
}

// Composer fills the e-mail templates. Implemented by templates.
type Composer interface {
	// InvoiceEmail returns subject, plain text and HTML. Errors are KindInternal.
	InvoiceEmail(d EmailData) (subject, text, html string, err error)
}

// TokenResolver finds the delivery a tracking token belongs to. Implemented by
// storage/postgres (the truth) and storage/cache (a Redis read-through in front of it).
type TokenResolver interface {
	// ResolveToken returns the token stored under hash. Errors: KindNotFound for an
	// unknown token, KindUnavailable when the store cannot be reached.
	ResolveToken(ctx context.Context, hash []byte) (Token, error)
}

// DeliverJob asks a worker to carry one delivery through render, archive and send.
// It is enqueued in the same transaction that stores the invoice.
type DeliverJob struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job for the queue.
func (DeliverJob) Kind() string { return "deliver" }
