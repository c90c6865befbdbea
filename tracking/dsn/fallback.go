package dsn

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"
)

var (
	// enhancedCode is an RFC 3463 status code: class.subject.detail.
	enhancedCode = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)
	// basicReply is an SMTP reply code at the start of a server's answer, e.g. "550 " or "554:".
	basicReply = regexp.MustCompile(`(?m)(?:^|[\s'"(])([45][0-5][0-9])[\s:-]`)
	emailAddr  = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)
	// angleAddr is a recipient on a line of its own, "<user@example.com>:" as qmail,
	// Yahoo and postfix's plain text write it.
	angleAddr = regexp.MustCompile(`(?m)^\s*<([^<>\s]+@[^<>\s]+)>:?`)
)

// A flavour recognises one family of free-text bounces by phrases its servers always
// write. They are checked in order; the first whose marker matches names the format.
type flavour struct {
	name    string
	markers []string
}

var flavours = []flavour{
	{"qmail", []string{"this is the qmail-send program", "qmail-send"}},
	{"exim", []string{"this message was created automatically by mail delivery software", "x-failed-recipients"}},
	{"exchange", []string{"delivery has failed to these recipients or groups", "diagnostic information for administrators",
		"remote server returned", "your message couldn't be delivered", "delivery is delayed to these recipients"}},
	{"gmail", []string{"mailer-daemon@googlemail.com", "your message wasn't delivered to", "message not delivered",
		"delivery incomplete", "the response from the remote server was"}},
	{"yahoo", []string{"sorry, we were unable to deliver your message", "yahoo.com"}},
	{"sendmail", []string{"the following addresses had permanent fatal errors", "transcript of session follows",
		"warning: message still undelivered", "----- the following addresses had"}},
}

// Phrases that say the server is still trying. Checked before failure phrases,
// because delay warnings also talk about failing ("has not yet been delivered").
var delayPhrases = []string{
	"delivery is delayed", "has not yet been delivered", "not yet been delivered", "still undelivered",
	"will keep trying", "will retry", "delivery incomplete", "message not delivered yet", "delivery status notification (delay)",
	"warning: could not send message", "temporarily deferred", "delayed mail",
}

var failPhrases = []string{
	"could not be delivered", "couldn't be delivered", "could not deliver", "wasn't delivered", "was not delivered",
	"undeliverable", "undelivered mail", "permanent error", "permanent fatal error", "delivery has failed",
	"unable to deliver", "failed permanently", "delivery to the following recipient failed", "returned mail",
	"address not found", "user unknown", "no such user", "mail delivery failed", "i've given up", "delivery failure",
}

// Phrases that make a failure without a status code hard or soft.
var (
	softPhrases = []string{"mailbox full", "over quota", "quota exceeded", "mailbox is full", "insufficient storage",
		"temporary", "temporarily", "try again later", "greylist"}
	hardPhrases = []string{"user unknown", "no such user", "does not exist", "doesn't exist", "address not found",
		"recipient not found", "recipnotfound", "unknown user", "no mailbox", "mailbox unavailable", "invalid recipient",
		"account has been disabled", "doesn't have a", "permanent error", "permanent fatal"}
)

// classifyText reads a bounce that carries no machine-readable report. It looks for
// the server family (for the record), then decides delayed or bounced from phrases,
// and hard or soft from the first status code (enhanced, else basic SMTP) found,
// else from phrases. Text that says neither stays KindUnknown.
func classifyText(h textproto.Header, text string, rep *Report) {
	lower := strings.ToLower(text)
	hdr := strings.ToLower(h.Get("From") + "\n" + h.Get("Subject") + "\n" + strings.Join(h.Values("X-Failed-Recipients"), ","))
	all := hdr + "\n" + lower

	rep.Format = "text/generic"
	for _, f := range flavours {
		if containsAny(all, f.markers) {
			rep.Format = "text/" + f.name
			break
		}
	}

	code := enhancedCode.FindString(text)
	basic := ""
	if m := basicReply.FindStringSubmatch(text); m != nil {
		basic = m[1]
	}
	subject := strings.ToLower(h.Get("Subject"))
	switch {
	case containsAny(subject, []string{"delay", "warning", "not yet delivered"}) || containsAny(lower, delayPhrases):
		rep.Kind = KindDelayed
		if strings.HasPrefix(code, "4.") {
			rep.Status = code
		}
	case containsAny(all, failPhrases) || (code != "" && code[0] != '2') || isDaemon(hdr):
		if code == "" && basic == "" && !containsAny(all, failPhrases) {
			return // a message from a mailer daemon that says nothing we can read
		}
		rep.Kind = KindBounced
		rep.Status = code
		switch {
		case strings.HasPrefix(code, "5."):
			rep.Bounce = BounceHard
		case strings.HasPrefix(code, "4."):
			rep.Bounce = BounceSoft
		case strings.HasPrefix(basic, "5"):
			rep.Bounce = BounceHard
		case strings.HasPrefix(basic, "4"):
			rep.Bounce = BounceSoft
		case containsAny(lower, softPhrases):
			rep.Bounce = BounceSoft
		case containsAny(lower, hardPhrases):
			rep.Bounce = BounceHard
		default:
			// A failure with no code and no known reason: soft, so that nobody treats the
			// address as dead on a guess. The diagnostic is kept for a person to read.
			rep.Bounce = BounceSoft
		}
	default:
		return
	}
	rep.Action = map[Kind]string{KindDelayed: "delayed", KindBounced: "failed"}[rep.Kind]
	rep.Recipient = failedRecipient(h, text)
	rep.Diagnostic = diagnosticLine(text, code, basic)
	rep.Recipients = []Recipient{{FinalRecipient: rep.Recipient, Action: rep.Action, Status: rep.Status, Diagnostic: rep.Diagnostic}}
}

func isDaemon(hdr string) bool {
	return strings.Contains(hdr, "mailer-daemon") || strings.Contains(hdr, "postmaster@")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// failedRecipient names the address the bounce is about: Exim's header, a
// "<addr>:" line, else the first address in the text that is not a daemon's.
func failedRecipient(h textproto.Header, text string) string {
	if v := strings.TrimSpace(h.Get("X-Failed-Recipients")); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.TrimSpace(first)
	}
	if m := angleAddr.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	for _, a := range emailAddr.FindAllString(text, 20) {
		la := strings.ToLower(a)
		if strings.HasPrefix(la, "mailer-daemon@") || strings.HasPrefix(la, "postmaster@") {
			continue
		}
		return a
	}
	return ""
}

// diagnosticLine keeps the line that carries the server's answer, which is what a
// person wants to read, trimmed to a sane length.
func diagnosticLine(text, code, basic string) string {
	needle := code
	if needle == "" {
		needle = basic
	}
	if needle == "" {
		return ""
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, needle) {
			line = strings.Join(strings.Fields(line), " ")
			if len(line) > 500 {
				line = line[:500]
			}
			return line
		}
	}
	return ""
}

// bounceType decides hard or soft for a failed DSN recipient from its status class;
// without a usable status, from the SMTP reply in the diagnostic.
func bounceType(status, diagnostic string) string {
	switch {
	case strings.HasPrefix(status, "5."):
		return BounceHard
	case strings.HasPrefix(status, "4."):
		return BounceSoft
	}
	if m := basicReply.FindStringSubmatch(" " + diagnostic); m != nil && m[1][0] == '4' {
		return BounceSoft
	}
	return BounceHard // Action: failed means the server gave up for good
}
