package providers

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// Event is one provider event, verified and mapped.
type Event struct {
	Provider  string    // ses, postmark, mailgun, sendgrid
	EventID   string    // the provider's id of this event, for de-duplication
	MessageID string    // our Message-ID (without angle brackets), or a delivery id from metadata
	At        time.Time // when the provider says it happened
	Report    dsn.Report
	Raw       []byte // the bytes of this event as received
}

// ErrSignature means the request's signature (or credentials) did not verify.
var ErrSignature = errors.New("webhook signature does not verify")

// ErrPayload means the body is not what the provider sends.
var ErrPayload = errors.New("webhook body is malformed")

var statusInText = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// bounceFrom builds a bounced report, hard or soft from the status class when there
// is one, else from the provider's own word (permanent says hard).
func bounceFrom(recipient, status, diagnostic string, permanent bool) dsn.Report {
	if status == "" {
		status = statusInText.FindString(diagnostic)
	}
	r := dsn.Report{Kind: dsn.KindBounced, Action: "failed", Recipient: recipient, Status: status, Diagnostic: diagnostic}
	switch {
	case strings.HasPrefix(status, "5."):
		r.Bounce = dsn.BounceHard
	case strings.HasPrefix(status, "4."):
		r.Bounce = dsn.BounceSoft
	case permanent:
		r.Bounce = dsn.BounceHard
	default:
		r.Bounce = dsn.BounceSoft
	}
	return r
}

func trimID(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }

// stripType drops an RFC 3464 type prefix ("dns; mx.example" -> "mx.example").
func stripType(s string) string {
	if _, after, ok := strings.Cut(s, ";"); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(s)
}
