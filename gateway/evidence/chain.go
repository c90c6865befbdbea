package evidence

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// ChainAlgorithm names how event hashes are computed; it is written into every
// manifest so that a future change of algorithm cannot be mistaken for tampering.
const ChainAlgorithm = "sha256-jcs-v1"

// Event is one link of an invoice's hash chain: an evidence event as it is hashed.
// Hash is SHA-256 over the canonical JSON of every other field, PrevHash included,
// so changing, dropping or reordering any event breaks every hash after it.
type Event struct {
	Seq        int64           `json:"seq"` // 1, 2, 3... per invoice
	InvoiceID  string          `json:"invoice_id"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Type       string          `json:"type"`
	Level      int             `json:"level"`
	At         time.Time       `json:"at"`
	Detail     json.RawMessage `json:"detail"`
	PrevHash   string          `json:"prev_hash"` // "" for the first event
	Hash       string          `json:"hash"`
}

// hashedEvent is exactly what the hash covers. "at" is RFC 3339 UTC at microsecond
// precision, which is what PostgreSQL keeps, so a stored event hashes the same
// after a round trip through the database.
type hashedEvent struct {
	V          int             `json:"v"`
	Seq        int64           `json:"seq"`
	InvoiceID  string          `json:"invoice_id"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Type       string          `json:"type"`
	Level      int             `json:"level"`
	At         string          `json:"at"`
	Detail     json.RawMessage `json:"detail"`
	PrevHash   string          `json:"prev_hash"`
}

// TruncateTime is the precision event times are kept and hashed at.
func TruncateTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ComputeHash returns the hash e should carry given its other fields: the SHA-256
// of the JCS form of hashedEvent. The form is written directly (its keys are fixed
// and sorted, its values strings and small integers); only the detail goes through
// Canonical. TestComputeHashIsTheHashOfTheCanonicalForm holds the two to each other.
func (e Event) ComputeHash() (string, error) {
	detail := e.Detail
	if len(detail) == 0 || string(detail) == "null" {
		detail = json.RawMessage(`{}`)
	}
	detail, err := Canonical(detail)
	if err != nil {
		return "", fmt.Errorf("hash event %d: %w", e.Seq, err)
	}
	b := make([]byte, 0, 256+len(detail))
	b = append(b, `{"at":`...)
	b = appendJCSString(b, TruncateTime(e.At).Format(time.RFC3339Nano))
	if e.DeliveryID != "" {
		b = append(b, `,"delivery_id":`...)
		b = appendJCSString(b, e.DeliveryID)
	}
	b = append(b, `,"detail":`...)
	b = append(b, detail...)
	b = append(b, `,"invoice_id":`...)
	b = appendJCSString(b, e.InvoiceID)
	b = append(b, `,"level":`...)
	b = strconv.AppendInt(b, int64(e.Level), 10)
	b = append(b, `,"prev_hash":`...)
	b = appendJCSString(b, e.PrevHash)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendJCSString(b, e.Type)
	b = append(b, `,"v":1}`...)
	return SHA256Hex(b), nil
}

// appendJCSString appends s as JCS writes a string: the short escapes for quote,
// backslash and \b \f \n \r \t, \u00xx for other control characters, and every other
// character as itself. Invalid UTF-8 becomes U+FFFD byte by byte, as encoding/json
// (whose output Canonical takes) replaces it.
func appendJCSString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return append(b, '"')
}

// CheckChain checks that events form one unbroken chain from the first event of an
// invoice: consecutive sequence numbers from 1, each prev_hash equal to the hash
// before it, and each hash recomputed from the event's content. It returns every
// problem found, each naming the event.
func CheckChain(invoiceID string, events []Event) []string {
	var problems []string
	prev := ""
	for i, e := range events {
		name := fmt.Sprintf("event %d (%s)", e.Seq, e.Type)
		if want := int64(i + 1); e.Seq != want {
			problems = append(problems, fmt.Sprintf("%s: sequence number %d where %d was expected: an event is missing or was reordered", name, e.Seq, want))
		}
		if e.InvoiceID != invoiceID {
			problems = append(problems, fmt.Sprintf("%s: belongs to invoice %q, not %q", name, e.InvoiceID, invoiceID))
		}
		if e.PrevHash != prev {
			problems = append(problems, fmt.Sprintf("%s: prev_hash does not match the hash of the event before it: the chain was cut or altered here", name))
		}
		got, err := e.ComputeHash()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: cannot be hashed: %v", name, err))
		case got != e.Hash:
			problems = append(problems, fmt.Sprintf("%s: content does not match its hash: the event was altered", name))
		}
		prev = e.Hash
	}
	return problems
}
