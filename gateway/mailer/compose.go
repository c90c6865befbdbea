package mailer

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/invoicegw/invoicegw/gateway"
)

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
