package mailer

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"github.com/wneessen/go-mail"

	"github.com/invoicegw/invoicegw/gateway"
)

// classify turns what go-mail returned for an undelivered message into a SendError.
//
// go-mail's own judgement is not used as is: SendError.IsTemp() only checks whether the
// error text starts with '4', so a broken connection or a timeout counts as permanent
// there. Here only a 5xx reply is permanent, and the phase comes from how far the
// conversation got (SendError.Reason) and whether the relay replied (ErrorCode != 0).
func classify(err error, rec *replyRecorder) *gateway.SendError {
	serr := &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: err}

	var sendErr *mail.SendError
	if !errors.As(err, &sendErr) {
		// go-mail failed before the mail transaction: dial, greeting, EHLO, STARTTLS or
		// AUTH. Temporary even for a 5xx, which here blames the relay set-up or our
		// credentials, not the message; the message goes out once that is fixed.
		var tp *textproto.Error
		if errors.As(err, &tp) {
			serr.Reply = formatReply(tp)
		}
		return serr
	}

	code := sendErr.ErrorCode()
	if code != 0 {
		serr.Permanent = code >= 500
		serr.Reply = rec.reply()
		if serr.Reply == "" {
			serr.Reply = replyFromSendError(sendErr)
		}
	}
	switch sendErr.Reason {
	case mail.ErrSMTPDataClose:
		// The whole message and its final "." were written (go-mail ignores a failed
		// flush of the dot and goes on to read the reply). No reply means the relay may
		// have queued it: RFC 5321 §3.8.
		if code == 0 {
			serr.Phase = gateway.PhaseAfterData
		}
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		// Faults of the message itself, found before anything was sent.
		serr.Permanent = true
	}
	return serr
}

// replyRecorder keeps the relay's last error reply to MAIL, RCPT or DATA. go-mail's
// SendError does not unwrap to the reply and may append a failed RSET's error to its
// text, so the exact reply is taken where go-mail's SMTP client reports it.
type replyRecorder struct {
	mu   sync.Mutex
	last *textproto.Error
}

// HandleError records err and returns it unchanged (go-mail's ResponseErrorHandler).
func (r *replyRecorder) HandleError(_, _ string, _ *textproto.Conn, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		r.mu.Lock()
		r.last = tp
		r.mu.Unlock()
	}
	return err
}

func (r *replyRecorder) reply() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return ""
	}
	return formatReply(r.last)
}

// formatReply renders a reply as the relay sent it, "451 4.3.0 Try again later".
// textproto.Error's own Error() quotes the text since Go 1.26.
func formatReply(e *textproto.Error) string {
	return fmt.Sprintf("%03d %s", e.Code, e.Msg)
}

// replyFromSendError digs the relay's reply out of go-mail's error text. The reply to
// the message data does not pass through go-mail's handler registry; its SendError text
// is "<reason>: <code> <text>, affected message ID: <id>" with exactly one error.
func replyFromSendError(e *mail.SendError) string {
	s := strings.TrimPrefix(e.Error(), e.Reason.String()+": ")
	if id := e.MessageID(); id != "" {
		s = strings.TrimSuffix(s, ", affected message ID: "+id)
	}
	// The embedded textproto.Error text is `451 "4.3.0 Try again later"` on Go 1.26
	// and later, `451 4.3.0 Try again later` before.
	code, text, ok := strings.Cut(s, " ")
	if !ok {
		return s
	}
	if unquoted, err := strconv.Unquote(text); err == nil {
		text = unquoted
	}
	return code + " " + text
}
