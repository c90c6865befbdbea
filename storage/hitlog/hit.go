package hitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

// hitVersion starts every hit record; a record of another version is not read as a
// hit.
const hitVersion = 1

// appendHit encodes h after buf: the version byte, the time in Unix nanoseconds,
// then each string as a uvarint length and its bytes.
func appendHit(buf []byte, h gateway.TrackHit) []byte {
	buf = append(buf, hitVersion)
	buf = binary.AppendVarint(buf, h.At.UnixNano())
	for _, s := range [...]string{h.TenantID, h.InvoiceID, h.DeliveryID, string(h.TokenKind), string(h.Event),
		h.Method, h.UserAgent, h.IPPrefix, h.Classification, h.Reason, string(h.PrivacyMode)} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

var errBadHit = errors.New("not a hit record")

// interner hands out one string per distinct value read back: a hit's fields repeat
// from hit to hit (the same few kinds, classes and reasons; one delivery's IDs for
// each of its opens), so the drainer allocates a string only for a value it has not
// seen lately.
type interner map[string]string

// maxInterned bounds an interner; it is cleared when full.
const maxInterned = 4096

func (in interner) str(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in[string(b)]; ok { // a look-up by string(b) does not allocate
		return s
	}
	if len(in) >= maxInterned {
		clear(in)
	}
	s := string(b)
	in[s] = s
	return s
}

// decodeHit is the inverse of appendHit; in (which may be nil) shares the strings
// between hits.
func decodeHit(b []byte, in interner) (gateway.TrackHit, error) {
	var h gateway.TrackHit
	if len(b) == 0 || b[0] != hitVersion {
		return h, fmt.Errorf("%w: unknown version", errBadHit)
	}
	b = b[1:]
	nanos, n := binary.Varint(b)
	if n <= 0 {
		return h, fmt.Errorf("%w: bad time", errBadHit)
	}
	b = b[n:]
	h.At = time.Unix(0, nanos).UTC()
	var tokenKind, event, privacy string
	for _, dst := range [...]*string{&h.TenantID, &h.InvoiceID, &h.DeliveryID, &tokenKind, &event,
		&h.Method, &h.UserAgent, &h.IPPrefix, &h.Classification, &h.Reason, &privacy} {
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return h, fmt.Errorf("%w: truncated", errBadHit)
		}
		*dst = in.str(b[n : n+int(size)])
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return h, fmt.Errorf("%w: %d trailing bytes", errBadHit, len(b))
	}
	h.TokenKind, h.Event, h.PrivacyMode = gateway.TokenKind(tokenKind), gateway.EventType(event), gateway.PrivacyMode(privacy)
	return h, nil
}
