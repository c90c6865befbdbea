package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kind is what a report says happened to the message.
type Kind string

const (
	KindDelivered   Kind = "delivered"    // Action: delivered
	KindRelayed     Kind = "relayed"      // handed to a server that does not report further (Action: relayed or expanded)
	KindDelayed     Kind = "delayed"      // still trying (Action: delayed, or a warning text)
	KindBounced     Kind = "bounced"      // given up (Action: failed, or a failure text)
	KindReadReceipt Kind = "read_receipt" // an MDN from the recipient's mail program
	KindUnknown     Kind = "unknown"      // not recognisably a report: kept for an operator
)

// Bounce types, from the RFC 3463 status class: 5.x.x is permanent (hard), 4.x.x is
// persistent-transient (soft: a server gave up on a condition that might clear).
const (
	BounceHard = "hard"
	BounceSoft = "soft"
)

// Format says how the report was read.
const (
	FormatDSN = "dsn" // RFC 3464 multipart/report
	FormatMDN = "mdn" // RFC 8098 multipart/report
	// Fallback formats are "text/<flavour>", e.g. "text/qmail"; see classifyText.
)

// Recipient is one per-recipient block of a DSN.
type Recipient struct {
	FinalRecipient    string `json:"final_recipient,omitempty"`
	OriginalRecipient string `json:"original_recipient,omitempty"`
	Action            string `json:"action,omitempty"`
	Status            string `json:"status,omitempty"`
	RemoteMTA         string `json:"remote_mta,omitempty"`
	Diagnostic        string `json:"diagnostic,omitempty"`
	WillRetryUntil    string `json:"will_retry_until,omitempty"`
}

// Report is what one inbound report says, reduced to the recipient that matters
// (the worst outcome when a report lists several) with every recipient kept.
type Report struct {
	Kind   Kind   `json:"kind"`
	Bounce string `json:"bounce_type,omitempty"` // hard or soft, for KindBounced
	Format string `json:"format"`

	ReportingMTA string `json:"reporting_mta,omitempty"`
	QueueID      string `json:"queue_id,omitempty"` // X-Postfix-Queue-ID: the id the relay gave the original message
	// EnvelopeID is Original-Envelope-Id: the ENVID the sender gave in MAIL FROM,
	// which the gateway sets to the delivery id.
	EnvelopeID string `json:"envelope_id,omitempty"`
	Recipient  string `json:"recipient,omitempty"`
	Action     string `json:"action,omitempty"`
	Status     string `json:"status,omitempty"` // RFC 3463 enhanced status code, e.g. 5.1.1
	RemoteMTA  string `json:"remote_mta,omitempty"`
	Diagnostic string `json:"diagnostic,omitempty"`

	// OriginalMessageID is the Message-ID of the message the report is about (from the
	// returned headers, or an MDN's Original-Message-ID), without angle brackets.
	OriginalMessageID string `json:"original_message_id,omitempty"`
	// Disposition is an MDN's disposition, e.g. "manual-action/MDN-sent-manually; displayed".
	Disposition string `json:"disposition,omitempty"`
	ReportingUA string `json:"reporting_ua,omitempty"`

	Subject    string      `json:"subject,omitempty"`
	From       string      `json:"from,omitempty"`
	Recipients []Recipient `json:"recipients,omitempty"`
}

// Displayed reports whether an MDN says the message was shown to its reader (the
// other dispositions, deleted and so on, prove nothing about reading).
func (r *Report) Displayed() bool {
	if r.Kind != KindReadReceipt {
		return false
	}
	_, after, ok := strings.Cut(r.Disposition, ";")
	if !ok {
		return false
	}
	typ, _, _ := strings.Cut(strings.TrimSpace(after), "/")
	return strings.EqualFold(strings.TrimSpace(typ), "displayed")
}

// maxPartBytes bounds what is read of any one part; reports are small, and the
// listener already limits the whole message.
const maxPartBytes = 1 << 20

// ErrNotMessage means the bytes are not an Internet message at all.
var ErrNotMessage = errors.New("not an e-mail message")

// Parse reads one report. Anything that is a message but not a recognisable report
// comes back as KindUnknown with no error, so that it is kept, not dropped.
func Parse(raw []byte) (*Report, error) {
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %w", ErrNotMessage, err)
	}
	rep := &Report{Kind: KindUnknown}
	rep.Subject = decodeWord(ent.Header.Get("Subject"))
	rep.From = decodeWord(ent.Header.Get("From"))

	// The parts decide what a report is: report-type is often wrong in the wild.
	if mt, _, _ := ent.Header.ContentType(); mt == "multipart/report" && readReport(ent, rep) {
		return rep, nil
	}
	// Not a standard report, or a broken one: classify the text.
	text := collectText(raw)
	classifyText(ent.Header.Header, text, rep)
	return rep, nil
}

// readReport walks a multipart/report. It returns false when no machine-readable
// part was found, so the caller falls back to the text.
func readReport(ent *message.Entity, rep *Report) bool {
	mr := ent.MultipartReader()
	if mr == nil {
		return false
	}
	found := false
	for {
		part, err := mr.NextPart()
		if err != nil {
			// io.EOF ends the walk; a broken part ends it too, keeping what was read.
			break
		}
		pmt, _, _ := part.Header.ContentType()
		body, _ := io.ReadAll(io.LimitReader(part.Body, maxPartBytes))
		switch pmt {
		case "message/delivery-status", "message/global-delivery-status":
			if readDeliveryStatus(body, rep) {
				rep.Format = FormatDSN
				found = true
			}
		case "message/disposition-notification", "message/global-disposition-notification":
			if readDisposition(body, rep) {
				rep.Format = FormatMDN
				found = true
			}
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			if id := returnedMessageID(body); id != "" && rep.OriginalMessageID == "" {
				rep.OriginalMessageID = id
			}
		}
	}
	return found
}

// readFieldBlocks splits a delivery-status body into its header-like blocks: the
// per-message block first, then one per recipient.
func readFieldBlocks(body []byte) []textproto.Header {
	br := bufio.NewReader(bytes.NewReader(body))
	var blocks []textproto.Header
	for {
		// Skip blank lines between blocks.
		for {
			b, err := br.Peek(1)
			if err != nil {
				return blocks
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			br.ReadByte()
		}
		h, err := textproto.ReadHeader(br)
		if h.Len() > 0 {
			blocks = append(blocks, h)
		}
		if err != nil || len(blocks) > 100 {
			return blocks
		}
	}
}

func readDeliveryStatus(body []byte, rep *Report) bool {
	blocks := readFieldBlocks(body)
	if len(blocks) == 0 {
		return false
	}
	msg := blocks[0]
	rep.ReportingMTA = typedValue(msg.Get("Reporting-MTA"))
	rep.QueueID = strings.TrimSpace(msg.Get("X-Postfix-Queue-ID"))
	rep.EnvelopeID = strings.TrimSpace(msg.Get("Original-Envelope-Id"))
	for _, b := range blocks[1:] {
		r := Recipient{
			FinalRecipient:    typedValue(b.Get("Final-Recipient")),
			OriginalRecipient: typedValue(b.Get("Original-Recipient")),
			Action:            strings.ToLower(strings.TrimSpace(b.Get("Action"))),
			Status:            statusCode(b.Get("Status")),
			RemoteMTA:         typedValue(b.Get("Remote-MTA")),
			Diagnostic:        typedValue(b.Get("Diagnostic-Code")),
			WillRetryUntil:    strings.TrimSpace(b.Get("Will-Retry-Until")),
		}
		if r.Action == "" && r.FinalRecipient == "" {
			continue
		}
		rep.Recipients = append(rep.Recipients, r)
	}
	if len(rep.Recipients) == 0 {
		return false
	}
	// The worst outcome speaks for the report: one failed recipient is a bounce even
	// if another was delivered (postfix sends separate reports; others may not).
	best := rep.Recipients[0]
	for _, r := range rep.Recipients[1:] {
		if actionRank(r.Action) > actionRank(best.Action) {
			best = r
		}
	}
	rep.Recipient = best.FinalRecipient
	if rep.Recipient == "" {
		rep.Recipient = best.OriginalRecipient
	}
	rep.Action, rep.Status, rep.RemoteMTA, rep.Diagnostic = best.Action, best.Status, best.RemoteMTA, best.Diagnostic
	switch best.Action {
	case "delivered":
		rep.Kind = KindDelivered
	case "relayed", "expanded":
		rep.Kind = KindRelayed
	case "delayed":
		rep.Kind = KindDelayed
	case "failed":
		rep.Kind = KindBounced
		rep.Bounce = bounceType(best.Status, best.Diagnostic)
	default:
		// An action we do not know: read it from the status class instead.
		switch {
		case strings.HasPrefix(best.Status, "2."):
			rep.Kind = KindDelivered
		case strings.HasPrefix(best.Status, "4."), strings.HasPrefix(best.Status, "5."):
			rep.Kind = KindBounced
			rep.Bounce = bounceType(best.Status, best.Diagnostic)
		default:
			return false
		}
	}
	return true
}

func actionRank(a string) int {
	switch a {
	case "failed":
		return 4
	case "delayed":
		return 3
	case "relayed", "expanded":
		return 2
	case "delivered":
		return 1
	}
	return 0
}

func readDisposition(body []byte, rep *Report) bool {
	blocks := readFieldBlocks(body)
	if len(blocks) == 0 {
		return false
	}
	h := blocks[0]
	disp := strings.Join(strings.Fields(h.Get("Disposition")), " ")
	if disp == "" {
		return false
	}
	rep.Kind = KindReadReceipt
	rep.Disposition = disp
	rep.ReportingUA = strings.TrimSpace(h.Get("Reporting-UA"))
	rep.Recipient = typedValue(h.Get("Final-Recipient"))
	if rep.Recipient == "" {
		rep.Recipient = typedValue(h.Get("Original-Recipient"))
	}
	if id := trimID(h.Get("Original-Message-ID")); id != "" {
		rep.OriginalMessageID = id
	}
	rep.Recipients = []Recipient{{FinalRecipient: rep.Recipient, OriginalRecipient: typedValue(h.Get("Original-Recipient"))}}
	return true
}

// returnedMessageID reads the Message-ID from returned headers or a returned message.
func returnedMessageID(body []byte) string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil && h.Len() == 0 {
		return ""
	}
	return trimID(h.Get("Message-Id"))
}

// typedValue strips the type of an RFC 3464 typed field ("rfc822; a@b" -> "a@b") and
// folds whitespace.
func typedValue(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if _, after, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(after)
	}
	return v
}

// statusCode returns the RFC 3463 code at the start of a Status field, without the
// comments some servers append ("5.1.1 (user unknown)").
func statusCode(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	if m := enhancedCode.FindString(f[0]); m == f[0] {
		return m
	}
	return ""
}

func trimID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func decodeWord(s string) string {
	dec := mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		return input, nil // keep the bytes: the subject is shown to an operator, not interpreted
	}}
	if out, err := dec.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// collectText gathers the readable text of a message for the fallback: every
// text/* part (and message/* parts, where old servers put the reason), decoded.
func collectText(raw []byte) string {
	var b strings.Builder
	// Parse again: a failed multipart/report walk has consumed the first reading.
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil && ent == nil {
		return ""
	}
	walkErr := ent.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		mt, _, _ := part.Header.ContentType()
		if mt == "" || strings.HasPrefix(mt, "text/") || strings.HasPrefix(mt, "message/") {
			if part.MultipartReader() != nil {
				return nil
			}
			data, _ := io.ReadAll(io.LimitReader(part.Body, maxPartBytes))
			b.Write(data)
			b.WriteByte('\n')
		}
		return nil
	})
	if walkErr != nil && b.Len() == 0 {
		// A broken MIME structure: the body as it is is the best we have.
		if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			return string(raw[i:])
		}
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			return string(raw[i:])
		}
	}
	return b.String()
}
