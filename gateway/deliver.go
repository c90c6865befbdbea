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
type DeliveryStore interface {
	// Delivery returns a delivery and its invoice. Errors: KindNotFound, KindUnavailable.
	Delivery(ctx context.Context, deliveryID string) (*Record, *Delivery, error)
	// SetPDF records the archived PDF with its events; the first one archived wins and
	// is returned. Errors: KindUnavailable.
	SetPDF(ctx context.Context, r *Record, obj Object, events ...Event) (Object, error)
	// BeginSend marks the delivery sending and stores its tokens, committed before any
	// byte goes to SMTP. Errors: KindConflict (not waiting to be sent), KindUnavailable.
	BeginSend(ctx context.Context, d *Delivery, tokens []Token) error
	// FinishSend records an attempt's outcome and its event. Errors: KindUnavailable.
	FinishSend(ctx context.Context, d *Delivery, status Status, reply string, e Event) error
}

// DeliverConfig is the sender's side of every message.
type DeliverConfig struct {
	MailFrom  string // the envelope and header From address
	PublicURL string // base of tracked links, without a trailing slash
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
	mailer   Mailer
	cfg      DeliverConfig
	now      func() time.Time
	log      *slog.Logger
}

func NewDeliverer(store DeliveryStore, renderer Renderer, archive Archive, composer Composer, mailer Mailer,
	cfg DeliverConfig, now func() time.Time, log *slog.Logger) *Deliverer {
	return &Deliverer{store: store, renderer: renderer, archive: archive, composer: composer, mailer: mailer, cfg: cfg, now: now, log: log}
}

// ErrRetry wraps failures after which the job should run again later. Anything the
// Deliverer returns is retryable; it returns nil once the delivery reached a state
// from which no further attempt will be made.
var ErrRetry = errors.New("delivery will be retried")

// Deliver runs one attempt. lastAttempt says the queue will not run it again, so a
// temporary failure becomes final.
func (dl *Deliverer) Deliver(ctx context.Context, deliveryID string, lastAttempt bool) error {
	r, d, err := dl.store.Delivery(ctx, deliveryID)
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
		// not have reached the relay. Sending again could double it; a later DSN or an
		// operator resolves it instead.
		ev := NewEvent(r.ID, d.ID, EventUnknownOutcome, dl.now(), map[string]string{
			"reason": "an earlier attempt stopped after handing the message to SMTP; it is not resent automatically",
		})
		return dl.finish(ctx, d, StatusUnknownOutcome, "", ev)
	}

	pdf, err := dl.ensurePDF(ctx, r)
	if err != nil {
		if k := ErrorKind(err); k == KindInvalid || k == KindUnprocessable {
			ev := NewEvent(r.ID, d.ID, EventFailed, dl.now(), map[string]string{"stage": "render", "reason": safeMessage(err)})
			return dl.finish(ctx, d, StatusFailed, "", ev)
		}
		return fmt.Errorf("%w: prepare pdf: %w", ErrRetry, err)
	}

	track := true
	if dl.cfg.Tracking != nil {
		s, err := dl.cfg.Tracking.TrackingSettings(ctx, r.TenantID)
		if err != nil {
			return fmt.Errorf("%w: tracking settings: %w", ErrRetry, err)
		}
		track = s.PrivacyMode != PrivacyOff
	}
	mail, tokens, err := dl.compose(r, d, pdf, track)
	if err != nil {
		return fmt.Errorf("%w: compose: %w", ErrRetry, err)
	}
	if err := dl.store.BeginSend(ctx, d, tokens); err != nil {
		if ErrorKind(err) == KindConflict {
			return nil // another worker owns this delivery now
		}
		return fmt.Errorf("%w: begin send: %w", ErrRetry, err)
	}

	res, err := dl.mailer.Send(ctx, mail)
	if err == nil {
		ev := NewEvent(r.ID, d.ID, EventSent, dl.now(), map[string]string{
			"reply": res.Reply, "relay": res.Relay, "message_id": "<" + d.MessageID + ">",
			"recipient": d.Recipient.Email,
		})
		dl.log.InfoContext(ctx, "invoice sent", "invoice_id", r.ID, "delivery_id", d.ID, "reply", res.Reply)
		return dl.finish(ctx, d, StatusSent, res.Reply, ev)
	}
	return dl.sendFailed(ctx, r, d, err, lastAttempt)
}

func (dl *Deliverer) sendFailed(ctx context.Context, r *Record, d *Delivery, err error, lastAttempt bool) error {
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Phase: PhaseBeforeData, Err: err}
	}
	detail := map[string]string{"reply": se.Reply, "error": se.Error(), "attempt": fmt.Sprint(d.Attempts + 1)}
	dl.log.WarnContext(ctx, "invoice send failed", "invoice_id", r.ID, "delivery_id", d.ID, "err", err,
		"permanent", se.Permanent, "after_data", se.Phase == PhaseAfterData)
	switch {
	case se.Phase == PhaseAfterData:
		detail["reason"] = "the connection broke after the message data was sent; the relay may have accepted it, so it is not resent automatically"
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
func (dl *Deliverer) finish(ctx context.Context, d *Delivery, status Status, reply string, ev Event) error {
	var err error
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if err = dl.store.FinishSend(ctx, d, status, reply, ev); err == nil || ErrorKind(err) != KindUnavailable || wait > 10*time.Second {
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

// ensurePDF renders and archives the invoice PDF once, or loads the archived one.
func (dl *Deliverer) ensurePDF(ctx context.Context, r *Record) ([]byte, error) {
	if r.PDF != nil {
		return fetchPDF(ctx, dl.archive, r)
	}
	pdf, err := dl.renderer.RenderInvoice(r.Document())
	if err != nil {
		return nil, err
	}
	obj := Object{Key: fmt.Sprintf("tenants/%s/invoices/%s/invoice.pdf", r.TenantID, r.ID), SHA256: sha256Hex(pdf), Size: int64(len(pdf))}
	renderedAt := dl.now()
	if err := dl.archive.Put(ctx, obj.Key, "application/pdf", pdf); err != nil {
		return nil, err
	}
	won, err := dl.store.SetPDF(ctx, r, obj,
		NewEvent(r.ID, "", EventRendered, renderedAt, map[string]any{"sha256": obj.SHA256, "size": obj.Size, "content_type": "application/pdf"}),
		NewEvent(r.ID, "", EventArchived, dl.now(), obj))
	if err != nil {
		return nil, err
	}
	if won != obj {
		// Another worker archived first; send exactly what it archived.
		r.PDF = &won
		return fetchPDF(ctx, dl.archive, r)
	}
	r.PDF = &obj
	return pdf, nil
}

// compose builds the message and the tracking tokens that its links carry.
func (dl *Deliverer) compose(r *Record, d *Delivery, pdf []byte, track bool) (Mail, []Token, error) {
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
	subject, text, html, err := dl.composer.InvoiceEmail(EmailData{
		ContactName:   d.Recipient.Name,
		SellerName:    inv.Seller.Name,
		InvoiceNumber: inv.Number,
		AmountDue:     inv.Currency + " " + r.Totals.AmountDue,
		DueDate:       inv.DueDate.Format(time.DateOnly),
		LinkURL:       dl.cfg.PublicURL + "/t/l/" + link,
		PixelURL:      pixelURL,
		HoneypotURL:   honeypotURL,
	})
	if err != nil {
		return Mail{}, nil, err
	}
	return Mail{
		MessageID: d.MessageID,
		From:      Contact{Name: inv.Seller.Name, Email: dl.cfg.MailFrom},
		ReplyTo:   inv.Seller.Email,
		To:        d.Recipient,
		Subject:   subject,
		Text:      text,
		HTML:      html,
		Attachments: []Attachment{{
			Name: PDFFilename(inv.Number), ContentType: "application/pdf", Data: pdf,
		}},
	}, tokens, nil
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
