package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 (JCS) form of v's JSON: sorted keys, no
// whitespace, ES6 numbers. Hashes and signatures are taken over this form, so that
// the same facts hash the same whichever program (or database) serialised them.
func Canonical(v any) ([]byte, error) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("encode for canonical form: %w", err)
		}
	}
	if isCanonical(raw) {
		return raw, nil
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalise json: %w", err)
	}
	return out, nil
}

// SHA256Hex is the lower-case hex SHA-256 of b, the form every hash in a bundle takes.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// isCanonical reports whether b is certainly already in canonical form, so that
// Canonical can skip the transform: what Go's encoder writes for the maps and
// structs of event details (sorted ASCII keys, no whitespace, integers, strings
// escaped as JCS escapes them) usually is. It is conservative: false means "not
// known", and the full transform decides. A fuzz test holds it to jcs.Transform.
func isCanonical(b []byte) bool {
	p := canonicalScanner{b: b}
	return p.value(0) && p.i == len(b)
}

type canonicalScanner struct {
	b []byte
	i int
}

// maxCanonicalDepth bounds the nesting the fast path follows.
const maxCanonicalDepth = 32

func (p *canonicalScanner) value(depth int) bool {
	if p.i >= len(p.b) || depth > maxCanonicalDepth {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.integer()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return true
			}
		}
		return false
	}
}

func (p *canonicalScanner) object(depth int) bool {
	p.i++ // {
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	var prev []byte
	for first := true; ; first = false {
		key, ok := p.str()
		// Keys must be ASCII without escapes (their bytes then sort as JCS sorts
		// their UTF-16 code units) and strictly increasing.
		if !ok || (!first && string(key) <= string(prev)) {
			return false
		}
		for _, c := range key {
			if c >= 0x80 || c == '\\' {
				return false
			}
		}
		prev = key
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		if !p.value(depth + 1) {
			return false
		}
		if p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

func (p *canonicalScanner) array(depth int) bool {
	p.i++ // [
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return true
	}
	for {
		if !p.value(depth+1) || p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

// str scans a string written as JCS writes it and returns its raw content: the
// short escapes for quote, backslash, \b \f \n \r \t, \u00xx (lower-case hex) only for
// other control characters, everything else (valid UTF-8) as itself.
func (p *canonicalScanner) str() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c < 0x20:
			return nil, false
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return nil, false
			}
			switch p.b[p.i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) || string(p.b[p.i+2:p.i+4]) != "00" || !isLowerHex(p.b[p.i+4]) || !isLowerHex(p.b[p.i+5]) {
					return nil, false
				}
				switch v := unhex(p.b[p.i+4])<<4 | unhex(p.b[p.i+5]); v {
				case '\b', '\f', '\n', '\r', '\t':
					return nil, false // JCS writes these short
				default:
					if v >= 0x20 {
						return nil, false
					}
				}
				p.i += 6
			default:
				return nil, false
			}
		default:
			p.i++
		}
	}
	return nil, false
}

// integer scans an integer JCS writes as itself: no leading zeros, no fraction or
// exponent, and small enough to be exact in a float64.
func (p *canonicalScanner) integer() bool {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	switch {
	case n == 0 || n > 15:
		return false
	case p.b[digits] == '0' && (n > 1 || p.i-start > 1):
		return false // a leading zero, or -0
	}
	if p.i < len(p.b) {
		if c := p.b[p.i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}
