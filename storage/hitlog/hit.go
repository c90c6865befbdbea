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

// decodeHit is the inverse of appendHit.
func decodeHit(b []byte) (gateway.TrackHit, error) {
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
		*dst = string(b[n : n+int(size)])
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return h, fmt.Errorf("%w: %d trailing bytes", errBadHit, len(b))
	}
	h.TokenKind, h.Event, h.PrivacyMode = gateway.TokenKind(tokenKind), gateway.EventType(event), gateway.PrivacyMode(privacy)
	return h, nil
}
