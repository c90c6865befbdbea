package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/invoicegw/invoicegw/gateway"
)

// Sender hands messages to one SMTP relay, one connection per message. It is safe for
// concurrent use.
type Sender struct {
	cfg Config
	log *slog.Logger
}

var _ gateway.Mailer = (*Sender)(nil)

// New returns a Sender for cfg. A zero Timeout becomes DefaultTimeout and an empty TLS
// mode becomes TLSRequired; other mistakes surface from cfg.Validate, which Send also
// runs. log may be nil.
func New(cfg Config, log *slog.Logger) *Sender {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSRequired
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, log: log}
}

// Send delivers m to the relay over a fresh connection and returns the relay's reply to
// the message data. Errors are *gateway.SendError:
//   - Permanent is set for a 5xx reply to MAIL, RCPT, DATA or the message data, and for
//     a message that cannot be composed. A 5xx during connection set-up (greeting,
//     EHLO, STARTTLS, AUTH) is NOT permanent: it says the relay or our credentials are
//     wrong, not this message, and the message goes through once that is fixed.
//   - Phase is PhaseAfterData only when the whole message was transmitted and no reply
//     was read (connection broken, timeout, or ctx ended while waiting): the relay may
//     have queued it. Everything else, including a definite 4xx/5xx reply to the data,
//     is PhaseBeforeData.
//   - Reply holds the relay's reply with its code, e.g. "451 4.3.0 Try again later".
//
// When ctx ends, the connection is closed at once; the error then wraps ctx.Err().
func (s *Sender) Send(ctx context.Context, m gateway.Mail) (gateway.SendResult, error) {
	relay := s.cfg.Addr()
	if err := s.cfg.Validate(); err != nil {
		return gateway.SendResult{}, &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: fmt.Errorf("smtp config: %w", err)}
	}
	msg, err := newMsg(m, time.Now())
	if err != nil {
		// Sending the same malformed message again cannot succeed.
		return gateway.SendResult{}, &gateway.SendError{Permanent: true, Phase: gateway.PhaseBeforeData, Err: err}
	}

	d := &dialer{sendCtx: ctx, timeout: s.cfg.Timeout}
	rec := &replyRecorder{}
	client, err := s.client(d, rec)
	if err != nil {
		return gateway.SendResult{}, &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: fmt.Errorf("configure smtp client: %w", err)}
	}
	err = client.DialAndSendWithContext(ctx, msg)
	d.close()

	// go-mail reports an error when QUIT fails after the relay accepted the message
	// (and would for a failed RSET, which we switch off): IsDelivered is the truth.
	if msg.IsDelivered() {
		res := gateway.SendResult{Reply: msg.ServerResponse(), Relay: relay}
		if err != nil {
			s.log.DebugContext(ctx, "smtp session ended badly after the message was accepted",
				"message_id", m.MessageID, "relay", relay, "error", err)
		}
		s.log.InfoContext(ctx, "smtp message accepted", "message_id", m.MessageID, "relay", relay, "reply", res.Reply)
		return res, nil
	}
	if err == nil {
		// Not reachable with go-mail v0.8.1; never report success without a reply.
		err = errors.New("go-mail returned neither an error nor a delivered message")
	}
	serr := classify(err, rec)
	serr.Err = fmt.Errorf("send to %s: %w", relay, serr.Err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		serr.Err = fmt.Errorf("%w: %w", ctxErr, serr.Err)
	}
	// The caller decides what the failure means for the delivery and logs it there.
	s.log.DebugContext(ctx, "smtp send failed", "message_id", m.MessageID, "relay", relay,
		"permanent", serr.Permanent, "after_data", serr.Phase == gateway.PhaseAfterData, "reply", serr.Reply)
	return gateway.SendResult{}, serr
}

// client builds a go-mail client for one Send. A fresh client per Send keeps
// concurrent Sends apart: go-mail clients carry per-connection state.
func (s *Sender) client(d *dialer, rec *replyRecorder) (*mail.Client, error) {
	tlsConfig := &tls.Config{
		ServerName:         s.cfg.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.cfg.InsecureSkipVerify, //nolint:gosec // opt-in, for tests against self-signed relays
	}
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(s.cfg.Timeout),
		mail.WithTLSConfig(tlsConfig),
		mail.WithDialContextFunc(d.dial),
		// One message per connection: a NOOP right after EHLO only costs a round trip
		// (and go-mail reports its failure as a non-temporary "not connected"), and an
		// RSET after an accepted message can only turn a success into an error.
		mail.WithoutNoop(),
		mail.WithoutRset(),
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSRequired:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		// The dialer already speaks TLS. Opportunistic lets go-mail look at the
		// connection state and see that it is encrypted (relays must not offer STARTTLS
		// once TLS is up, RFC 3207), which auth discovery needs to pick PLAIN or LOGIN.
		d.tlsConfig = tlsConfig
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		// Auto-discovery refuses PLAIN and LOGIN on an unencrypted connection, so a
		// password never crosses the network in the clear.
		opts = append(opts,
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username),
			mail.WithPassword(s.cfg.Password))
	}
	c, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, err
	}
	for _, cmd := range []string{"mail", "rcpt", "data"} {
		c.ErrorHandlerRegistry.RegisterHandler(s.cfg.Host, cmd, rec)
	}
	return c, nil
}

// newMsg builds the go-mail message for m, dated at date.
func newMsg(m gateway.Mail, date time.Time) (*mail.Msg, error) {
	// No go-mail User-Agent: the library version is nobody's business.
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())

	from, err := address("from", m.From)
	if err != nil {
		return nil, err
	}
	msg.FromMailAddress(from)
	to, err := address("to", m.To)
	if err != nil {
		return nil, err
	}
	msg.ToMailAddress(to)
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("compose message: reply-to %q: %w", m.ReplyTo, err)
		}
	}
	if m.EnvelopeFrom != "" {
		if err := msg.EnvelopeFrom(m.EnvelopeFrom); err != nil {
			return nil, fmt.Errorf("compose message: envelope from %q: %w", m.EnvelopeFrom, err)
		}
	}
	if m.MessageID == "" || strings.ContainsAny(m.MessageID, "<> \t\r\n") || !strings.Contains(m.MessageID, "@") {
		return nil, fmt.Errorf("compose message: message id %q must look like local@domain, without angle brackets", m.MessageID)
	}
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(date)
	msg.Subject(m.Subject)

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(mail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
	}
	for _, a := range m.Attachments {
		var opts []mail.FileOption
		if a.ContentType != "" {
			opts = append(opts, mail.WithFileContentType(mail.ContentType(a.ContentType)))
		}
		msg.AttachReadSeeker(a.Name, bytes.NewReader(a.Data), opts...)
	}
	return msg, nil
}

// address validates c's e-mail address and attaches the display name. Building a
// net/mail Address (instead of go-mail's "%q <%s>" formatting) lets the name hold
// quotes and non-ASCII letters safely.
func address(field string, c gateway.Contact) (*netmail.Address, error) {
	a, err := netmail.ParseAddress(c.Email)
	if err != nil {
		return nil, fmt.Errorf("compose message: %s address %q: %w", field, c.Email, err)
	}
	a.Name = c.Name
	return a, nil
}
