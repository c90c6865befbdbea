package tracking

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestNewTokenRoundTrip(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		token, hash, err := NewToken()
		if err != nil {
			t.Fatalf("NewToken() error = %v", err)
		}
		if len(token) != 43 {
			t.Fatalf("len(token) = %d, want 43 (%q)", len(token), token)
		}
		if len(hash) != sha256.Size {
			t.Fatalf("len(hash) = %d, want %d", len(hash), sha256.Size)
		}
		got, err := HashToken(token)
		if err != nil {
			t.Fatalf("HashToken(%q) error = %v", token, err)
		}
		if !bytes.Equal(got, hash) {
			t.Fatalf("HashToken(%q) = %x, want the hash NewToken returned, %x", token, got, hash)
		}
		if seen[token] {
			t.Fatalf("NewToken() returned %q twice", token)
		}
		seen[token] = true
	}
}

func TestHashTokenRejectsMalformed(t *testing.T) {
	valid, _, err := NewToken()
	if err != nil {
		t.Fatalf("NewToken() error = %v", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	// The last character of a 43-character token carries 4 data bits and 2 spare bits
	// that must be zero; 'B' (index 1) sets a spare bit.
	nonCanonical := valid[:42] + "B"
	tests := []struct {
		name  string
		token string
	}{
		{"rejects empty", ""},
		{"rejects one character short", valid[:42]},
		{"rejects one character long", valid + "A"},
		{"rejects padding", base64.URLEncoding.EncodeToString(raw)},
		{"rejects padding in place of the last character", valid[:42] + "="},
		{"rejects the standard alphabet's plus", "+" + valid[1:]},
		{"rejects the standard alphabet's slash", valid[:20] + "/" + valid[21:]},
		{"rejects a space", valid[:10] + " " + valid[11:]},
		{"rejects a trailing newline", valid[:42] + "\n"},
		{"rejects a percent escape", valid[:40] + "%41"},
		{"rejects a multi-byte character", valid[:41] + "é"},
		{"rejects a non-canonical last character", nonCanonical},
		{"rejects a NUL byte", valid[:42] + "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HashToken(tt.token)
			if !errors.Is(err, ErrMalformedToken) {
				t.Errorf("HashToken(%q) error = %v, want ErrMalformedToken", tt.token, err)
			}
			if got != nil {
				t.Errorf("HashToken(%q) = %x, want nil", tt.token, got)
			}
		})
	}
}

func TestHashTokenIsSHA256OfTheRandomBytes(t *testing.T) {
	raw := bytes.Repeat([]byte{0xA5}, 32)
	token := base64.RawURLEncoding.EncodeToString(raw)
	want := sha256.Sum256(raw)
	got, err := HashToken(token)
	if err != nil {
		t.Fatalf("HashToken(%q) error = %v", token, err)
	}
	if !bytes.Equal(got, want[:]) {
		t.Errorf("HashToken(%q) = %x, want %x", token, got, want)
	}
}

func FuzzHashToken(f *testing.F) {
	valid, _, err := NewToken()
	if err != nil {
		f.Fatalf("NewToken() error = %v", err)
	}
	for _, seed := range []string{
		valid, "", valid[:42], valid + "=", valid[:42] + "B", strings.Repeat("A", 43),
		strings.Repeat("_", 43), strings.Repeat("-", 43), "+" + valid[1:], valid[:42] + "\n",
		strings.Repeat("é", 21) + "A",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		hash, err := HashToken(token)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("HashToken(%q) error = %v, want ErrMalformedToken", token, err)
			}
			if hash != nil {
				t.Fatalf("HashToken(%q) returned a hash with an error", token)
			}
			return
		}
		// Accepted: it must be the one canonical spelling of 32 bytes, hashed.
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) != 32 {
			t.Fatalf("HashToken accepted %q, which is not 32 bytes of base64url (err %v)", token, err)
		}
		if again := base64.RawURLEncoding.EncodeToString(raw); again != token {
			t.Fatalf("HashToken accepted %q, which re-encodes as %q", token, again)
		}
		if want := sha256.Sum256(raw); !bytes.Equal(hash, want[:]) {
			t.Fatalf("HashToken(%q) = %x, want %x", token, hash, want)
		}
	})
}
