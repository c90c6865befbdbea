package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// DeliveryStore is what carrying a delivery through its states needs from storage.
// Every state change commits with its event in one transaction.
type DeliveryStore interface {
	// Delivery returns a delivery, its invoice and the tenant's delivery settings.
	// Errors: KindNotFound, KindUnavailable.
	Delivery(ctx context.Context, deliveryID string) (*Record, *Delivery, DeliverySettings, error)
	// StartRendering moves a delivery without an archived message from queued or
	// deferred to rendering. Errors: KindConflict (in another state), KindUnavailable.
	StartRendering(ctx context.Context, d *Delivery) error
	// SetMessageAndBeginSend records the archived message, the tracking tokens it
	// carries and its archived event, and begins the first send (as BeginSend) in the
	// same commit, made before any byte goes to SMTP. A PDF rendered by this attempt
	// (pdf, else nil) is recorded with its events in that commit too; the invoice's
	// first recorded PDF wins. Errors: KindConflict (a message is archived already, or
	// the delivery moved on; wrapping a *PDFTakenError when another attempt recorded a
	// different PDF first), KindUnavailable.
	SetMessageAndBeginSend(ctx context.Context, d *Delivery, pdf *NewPDF, obj Object, tokens []Token, e Event) error
	// BeginSend marks a delivery with an archived message sending and counts the
	// attempt, committed before any byte goes to SMTP. Errors: KindConflict (not
	// waiting to be sent), KindUnavailable.
	BeginSend(ctx context.Context, d *Delivery) error
	// FinishSend records an outcome and its events. Errors: KindUnavailable.
	FinishSend(ctx context.Context, d *Delivery, status Status, reply string, events ...Event) error
}

// NewPDF is an invoice PDF that an attempt rendered and archived: it is recorded in
// the commit that records the message carrying it, so a first delivery commits once
// before its send instead of twice.
type NewPDF struct {
	Object Object
	Events []Event // rendered, archived
}

// PDFTakenError says that another attempt recorded a different PDF of the invoice
// first: a message must carry the recorded one.
type PDFTakenError struct{ Recorded Object }

func (e *PDFTakenError) Error() string {
	return fmt.Sprintf("another attempt recorded pdf %s (sha256 %s) first", e.Recorded.Key, e.Recorded.SHA256)
}

// DeliverConfig is the sender's side of every message.
type DeliverConfig struct {
	MailFrom     string // the header From address unless the tenant sets its own
	PublicURL    string // base of tracked links, without a trailing slash
	BounceDomain string // envelope senders are bounce+<token>@BounceDomain; empty: MailFrom
	// Tracking gives each tenant's privacy mode: with "off" the e-mail carries neither
	// pixel nor honeypot. nil tracks every message (tests of other features).
	Tracking TrackingSettingsStore
}

// Deliverer carries one delivery through render, archive and send. It is run by the
// job workers; every step is safe to repeat after a crash, and the send itself is
// never repeated once it may have happened.
type Deliverer struct {
	store    DeliveryStore
	renderer Renderer
	archive  Archive
	composer Composer
	builder  MessageBuilder
	mailer   Mailer
	cfg      DeliverConfig
	now      func() time.Time
	log      *slog.Logger
}

func NewDeliverer(store DeliveryStore, renderer Renderer, archive Archive, composer Composer, builder MessageBuilder,
	mailer Mailer, cfg DeliverConfig, now func() time.Time, log *slog.Logger) *Deliverer {
	return &Deliverer{store: store, renderer: renderer, archive: archive, composer: composer, builder: builder,
		mailer: mailer, cfg: cfg, now: now, log: log}
}

// ErrRetry wraps failures after which the job should run again later. Anything the
// Deliverer returns is retryable; it returns nil once the delivery reached a state
// from which no further attempt will be made.
var ErrRetry = errors.New("delivery will be retried")

// Deliver runs one attempt. lastAttempt says the queue will not run it again, so a
// temporary failure becomes final.
func (dl *Deliverer) Deliver(ctx context.Context, deliveryID string, lastAttempt bool) error {
	r, d, settings, err := dl.store.Delivery(ctx, deliveryID)
	if err != nil {
		if ErrorKind(err) == KindNotFound {
			dl.log.ErrorContext(ctx, "delivery job for unknown delivery", "delivery_id", deliveryID)
			return nil
		}
		return fmt.Errorf("%w: load delivery: %w", ErrRetry, err)
	}
	switch {
	case d.Status.Final():
		return nil
	case d.Status == StatusSending:
		// An earlier attempt committed "sending" and then died: the message may or may
		// not have reached the server. Sending again could double it; a later DSN or an
		// operator resolves it instead.
		ev := NewEvent(r.ID, d.ID, EventUnknownOutcome, dl.now(), map[string]string{
			"reason": "an earlier attempt stopped after handing the message to SMTP; it is not resent automatically",
		})
		return dl.finish(ctx, d, StatusUnknownOutcome, "", ev)
	}

	var msg []byte
	began := false // the send is begun once the delivery is committed as sending
	if d.Message == nil {
		msg, began, err = dl.prepare(ctx, r, d, settings)
		if err != nil {
			return dl.prepareFailed(ctx, r, d, err, lastAttempt)
		}
	} else {
		// Every retry sends the archived bytes, never a fresh composition.
		if msg, err = dl.archivedMessage(ctx, d); err != nil {
			return dl.prepareFailed(ctx, r, d, err, lastAttempt)
		}
	}

	if !began {
		if err := dl.store.BeginSend(ctx, d); err != nil {
			if ErrorKind(err) == KindConflict {
				return nil // another worker owns this delivery now
			}
			return fmt.Errorf("%w: begin send: %w", ErrRetry, err)
		}
	}
	attempt := d.Attempts + 1
	res, err := dl.mailer.Transmit(ctx, dl.envelope(d), msg)
	if err != nil {
		return dl.sendFailed(ctx, r, d, err, lastAttempt)
	}
	at := dl.now()
	detail := map[string]any{
		"reply": res.Reply, "relay": res.Relay, "message_id": "<" + d.MessageID + ">",
		"recipient": d.Recipient.Email, "message_sha256": d.Message.SHA256, "attempt": attempt,
	}
	events := []Event{NewEvent(r.ID, d.ID, EventSent, at, detail)}
	status := StatusSent
	if res.Direct {
		// The recipient's own server took it: that is delivery, level 3.
		status = StatusDelivered
		events = append(events, NewEvent(r.ID, d.ID, EventDelivered, at, map[string]any{
			"reply": res.Reply, "mx_host": res.MXHost, "mx_ip": res.MXIP, "tls_version": res.TLSVersion,
			"recipient": d.Recipient.Email, "source": "direct",
		}))
	}
	dl.log.InfoContext(ctx, "invoice sent", "invoice_id", r.ID, "delivery_id", d.ID, "reply", res.Reply, "direct", res.Direct)
	return dl.finish(ctx, d, status, res.Reply, events...)
}

// prepare renders (or loads) the PDF, composes and builds the message, archives its
// exact bytes and records them, with a PDF rendered here, beginning the send in the
// same commit (began). No byte goes to SMTP before this has committed. When another
// worker archived a message first, prepare returns that one, not begun.
func (dl *Deliverer) prepare(ctx context.Context, r *Record, d *Delivery, s DeliverySettings) (msg []byte, began bool, err error) {
	if d.Status != StatusRendering {
		if err := dl.store.StartRendering(ctx, d); err != nil {
			return nil, false, err
		}
		d.Status = StatusRendering
	}
	pdf, newPDF, err := dl.ensurePDF(ctx, r)
	if err != nil {
		return nil, false, err
	}
	track := true
	if dl.cfg.Tracking != nil {
		ts, err := dl.cfg.Tracking.TrackingSettings(ctx, r.TenantID)
		if err != nil {
			return nil, false, fmt.Errorf("tracking settings: %w", err)
		}
		track = ts.PrivacyMode != PrivacyOff
	}
	for {
		var obj Object
		var tokens []Token
		msg, obj, tokens, err = dl.archiveMessage(ctx, r, d, s, pdf, track)
		if err != nil {
			return nil, false, err
		}
		ev := NewEvent(r.ID, d.ID, EventArchived, dl.now(), map[string]any{
			"key": obj.Key, "sha256": obj.SHA256, "size": obj.Size, "content_type": "message/rfc822",
			"message_id": "<" + d.MessageID + ">", "recipient": d.Recipient.Email,
		})
		err = dl.store.SetMessageAndBeginSend(ctx, d, newPDF, obj, tokens, ev)
		var taken *PDFTakenError
		switch {
		case err == nil:
			if newPDF != nil {
				r.PDF = &newPDF.Object
			}
			d.Message = &obj
			d.Status = StatusSending
			return msg, true, nil
		case errors.As(err, &taken) && newPDF != nil:
			// Another worker recorded its PDF first; the message must carry exactly
			// that one, so it is composed and archived again around it.
			r.PDF, newPDF = &taken.Recorded, nil
			if pdf, err = fetchPDF(ctx, dl.archive, r); err != nil {
				return nil, false, err
			}
		case ErrorKind(err) == KindConflict:
			// Another worker archived first: send what it archived.
			_, d2, _, lerr := dl.store.Delivery(ctx, d.ID)
			if lerr != nil || d2.Message == nil {
				return nil, false, err
			}
			*d = *d2
			msg, err = dl.archivedMessage(ctx, d)
			return msg, false, err
		default:
			return nil, false, err
		}
	}
}

// archiveMessage composes and builds the message around pdf and archives its exact
// bytes under a key naming their SHA-256.
func (dl *Deliverer) archiveMessage(ctx context.Context, r *Record, d *Delivery, s DeliverySettings, pdf []byte, track bool) ([]byte, Object, []Token, error) {
	mail, tokens, err := dl.compose(r, d, s, pdf, track)
	if err != nil {
		return nil, Object{}, nil, err
	}
	msg, err := dl.builder.BuildMessage(mail)
	if err != nil {
		return nil, Object{}, nil, err
	}
	sum := sha256Hex(msg)
	obj := Object{Key: fmt.Sprintf("tenants/%s/invoices/%s/deliveries/%s/%s.eml", r.TenantID, r.ID, d.ID, sum),
		SHA256: sum, Size: int64(len(msg))}
	if err := dl.archive.Put(ctx, obj.Key, "message/rfc822", msg); err != nil {
		return nil, Object{}, nil, fmt.Errorf("archive message: %w", err)
	}
	return msg, obj, tokens, nil
}

// archivedMessage reads the archived message and refuses bytes that do not match
// the recorded hash.
func (dl *Deliverer) archivedMessage(ctx context.Context, d *Delivery) ([]byte, error) {
	data, err := dl.archive.Get(ctx, d.Message.Key)
	if err != nil {
		return nil, fmt.Errorf("load archived message: %w", err)
	}
	if got := sha256Hex(data); got != d.Message.SHA256 {
		return nil, &Error{Kind: KindInternal, Message: "the archived message does not match its recorded hash",
			Err: fmt.Errorf("message %s: sha256 %s, recorded %s", d.Message.Key, got, d.Message.SHA256)}
	}
	return data, nil
}

// prepareFailed handles a failure before anything went to SMTP: nothing was sent,
// so trying again later cannot double the message.
func (dl *Deliverer) prepareFailed(ctx context.Context, r *Record, d *Delivery, err error, lastAttempt bool) error {
	if ErrorKind(err) == KindConflict && d.Message == nil && d.Status != StatusRendering {
		return nil // the delivery moved on under another worker
	}
	detail := map[string]string{"stage": "prepare", "reason": safeMessage(err), "attempt": fmt.Sprint(d.Attempts + 1)}
	if k := ErrorKind(err); k == KindInvalid || k == KindUnprocessable {
		dl.log.WarnContext(ctx, "invoice cannot be sent", "invoice_id", r.ID, "delivery_id", d.ID, "err", err)
		return dl.finish(ctx, d, StatusFailed, "", NewEvent(r.ID, d.ID, EventFailed, dl.now(), detail))
	}
	dl.log.WarnContext(ctx, "invoice not ready to send", "invoice_id", r.ID, "delivery_id", d.ID, "err", err)
	if lastAttempt {
		detail["reason"] = "the message could not be prepared and archived until the retry horizon ran out: " + detail["reason"]
		return dl.finish(ctx, d, StatusFailed, "", NewEvent(r.ID, d.ID, EventFailed, dl.now(), detail))
	}
	if ferr := dl.finish(ctx, d, StatusDeferred, "", NewEvent(r.ID, d.ID, EventDeferred, dl.now(), detail)); ferr != nil {
		return ferr
	}
	return fmt.Errorf("%w: prepare: %w", ErrRetry, err)
}

func (dl *Deliverer) sendFailed(ctx context.Context, r *Record, d *Delivery, err error, lastAttempt bool) error {
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Phase: PhaseBeforeData, Err: err}
	}
	detail := map[string]string{"reply": se.Reply, "error": se.Error(), "attempt": fmt.Sprint(d.Attempts + 1),
		"message_sha256": d.Message.SHA256}
	dl.log.WarnContext(ctx, "invoice send failed", "invoice_id", r.ID, "delivery_id", d.ID, "err", err,
		"permanent", se.Permanent, "after_data", se.Phase == PhaseAfterData)
	switch {
	case se.Phase == PhaseAfterData:
		detail["reason"] = "the connection broke after the message data was sent; the server may have accepted it, so it is not resent automatically"
		return dl.finish(ctx, d, StatusUnknownOutcome, se.Reply, NewEvent(r.ID, d.ID, EventUnknownOutcome, dl.now(), detail))
	case se.Permanent:
		return dl.finish(ctx, d, StatusFailed, se.Reply, NewEvent(r.ID, d.ID, EventFailed, dl.now(), detail))
	case lastAttempt:
		detail["reason"] = "temporary failures until the retry horizon ran out"
		return dl.finish(ctx, d, StatusFailed, se.Reply, NewEvent(r.ID, d.ID, EventFailed, dl.now(), detail))
	default:
		if ferr := dl.finish(ctx, d, StatusDeferred, se.Reply, NewEvent(r.ID, d.ID, EventDeferred, dl.now(), detail)); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %w", ErrRetry, err)
	}
}

// finish records an outcome, retrying briefly: after a send, losing the outcome to a
// database blip would turn a known result into an unknown one.
func (dl *Deliverer) finish(ctx context.Context, d *Delivery, status Status, reply string, events ...Event) error {
	var err error
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if err = dl.store.FinishSend(ctx, d, status, reply, events...); err == nil || ErrorKind(err) != KindUnavailable || wait > 10*time.Second {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: record outcome: %w", ErrRetry, ctx.Err())
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("%w: record outcome %s: %w", ErrRetry, status, err)
	}
	return nil
}

// ensurePDF loads the invoice's recorded PDF, or renders and archives one, to be
// recorded (newPDF) with the first message that carries it.
func (dl *Deliverer) ensurePDF(ctx context.Context, r *Record) (pdf []byte, newPDF *NewPDF, err error) {
	if r.PDF != nil {
		pdf, err = fetchPDF(ctx, dl.archive, r)
		return pdf, nil, err
	}
	if pdf, err = dl.renderer.RenderInvoice(r.Document()); err != nil {
		return nil, nil, err
	}
	obj := Object{Key: fmt.Sprintf("tenants/%s/invoices/%s/invoice.pdf", r.TenantID, r.ID), SHA256: sha256Hex(pdf), Size: int64(len(pdf))}
	renderedAt := dl.now()
	if err := dl.archive.Put(ctx, obj.Key, "application/pdf", pdf); err != nil {
		return nil, nil, fmt.Errorf("archive pdf: %w", err)
	}
	return pdf, &NewPDF{Object: obj, Events: []Event{
		NewEvent(r.ID, "", EventRendered, renderedAt, map[string]any{"sha256": obj.SHA256, "size": obj.Size, "content_type": "application/pdf"}),
		NewEvent(r.ID, "", EventArchived, dl.now(), obj),
	}}, nil
}

// envelope is the SMTP envelope of d: the VERP bounce address as sender, so every
// DSN names its delivery, and the delivery ID as DSN ENVID.
func (dl *Deliverer) envelope(d *Delivery) Envelope {
	from := dl.cfg.MailFrom
	if dl.cfg.BounceDomain != "" && d.BounceToken != "" {
		from = tracking.BounceAddress(d.BounceToken, dl.cfg.BounceDomain)
	}
	return Envelope{From: from, To: d.Recipient.Email, EnvID: d.ID}
}

// compose builds the message and the tracking tokens that its links carry.
func (dl *Deliverer) compose(r *Record, d *Delivery, s DeliverySettings, pdf []byte, track bool) (Mail, []Token, error) {
	var tokens []Token
	newToken := func(kind TokenKind) (string, error) {
		tok, hash, err := tracking.NewToken()
		if err != nil {
			return "", err
		}
		tokens = append(tokens, Token{Hash: hash, Kind: kind, DeliveryID: d.ID, InvoiceID: r.ID, TenantID: r.TenantID})
		return tok, nil
	}
	link, err := newToken(TokenLink)
	if err != nil {
		return Mail{}, nil, err
	}
	var pixelURL, honeypotURL string
	if track {
		pixel, err := newToken(TokenPixel)
		if err != nil {
			return Mail{}, nil, err
		}
		honeypot, err := newToken(TokenHoneypot)
		if err != nil {
			return Mail{}, nil, err
		}
		pixelURL = dl.cfg.PublicURL + "/t/o/" + pixel + ".gif"
		honeypotURL = dl.cfg.PublicURL + "/t/l/" + honeypot
	}
	inv := r.Invoice
	attach := s.attachMode()
	data := EmailData{
		Locale:        invoiceLocale(r),
		ContactName:   d.Recipient.Name,
		SellerName:    inv.Seller.Name,
		InvoiceNumber: inv.Number,
		AmountDue:     inv.Currency + " " + r.Totals.AmountDue,
		DueDate:       inv.DueDate.Format(time.DateOnly),
		PixelURL:      pixelURL,
		HoneypotURL:   honeypotURL,
		Attached:      attach != AttachLink,
		Template:      s.Template(invoiceLocale(r)),
	}
	if attach != AttachPDF {
		data.LinkURL = dl.cfg.PublicURL + "/t/l/" + link
	}
	subject, text, html, err := dl.composer.InvoiceEmail(data)
	if err != nil {
		return Mail{}, nil, err
	}
	from := Contact{Name: inv.Seller.Name, Email: dl.cfg.MailFrom}
	if s.FromEmail != "" {
		from.Email = s.FromEmail
	}
	if s.FromName != "" {
		from.Name = s.FromName
	}
	replyTo := inv.Seller.Email
	if s.ReplyTo != "" {
		replyTo = s.ReplyTo
	}
	m := Mail{
		MessageID: d.MessageID,
		From:      from,
		ReplyTo:   replyTo,
		To:        d.Recipient,
		Subject:   subject,
		Text:      text,
		HTML:      html,
		Date:      dl.now(),
		DKIM:      s.DKIMKey(),
	}
	if s.ReadReceipt {
		// Receipts go where the gateway can record them: the delivery's VERP address
		// when the inbound listener has a bounce domain, else the AR mailbox.
		m.ReadReceiptTo = replyTo
		if env := dl.envelope(d); env.From != dl.cfg.MailFrom {
			m.ReadReceiptTo = env.From
		}
	}
	if attach != AttachLink {
		m.Attachments = []Attachment{{Name: PDFFilename(inv.Number), ContentType: "application/pdf", Data: pdf}}
	}
	return m, tokens, nil
}

var unsafeFilename = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// PDFFilename is the attachment and download name of an invoice's PDF.
func PDFFilename(number string) string {
	return "invoice-" + unsafeFilename.ReplaceAllString(number, "_") + ".pdf"
}

// safeMessage is the client-safe part of an error.
func safeMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
