package mailer_test

import (
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway/mailer"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want mailer.Config
	}{
		{"smtp defaults to required STARTTLS on 587", "smtp://bob:s3cret@relay.example.com",
			mailer.Config{Host: "relay.example.com", Port: 587, Username: "bob", Password: "s3cret", TLS: mailer.TLSRequired}},
		{"smtps defaults to implicit TLS on 465", "smtps://bob:s3cret@relay.example.com",
			mailer.Config{Host: "relay.example.com", Port: 465, Username: "bob", Password: "s3cret", TLS: mailer.TLSImplicit}},
		{"explicit port wins", "smtp://relay.example.com:2525",
			mailer.Config{Host: "relay.example.com", Port: 2525, TLS: mailer.TLSRequired}},
		{"starttls none for a local catcher", "smtp://127.0.0.1:1025?starttls=none",
			mailer.Config{Host: "127.0.0.1", Port: 1025, TLS: mailer.TLSNone}},
		{"starttls opportunistic", "smtp://relay.example.com:25?starttls=opportunistic",
			mailer.Config{Host: "relay.example.com", Port: 25, TLS: mailer.TLSOpportunistic}},
		{"starttls required spelled out", "smtp://relay.example.com?starttls=required",
			mailer.Config{Host: "relay.example.com", Port: 587, TLS: mailer.TLSRequired}},
		{"scheme is case-insensitive", "SMTPS://relay.example.com",
			mailer.Config{Host: "relay.example.com", Port: 465, TLS: mailer.TLSImplicit}},
		{"percent-encoded password is decoded", "smtp://bob%40corp:p%2Fa%23s%3Fs%40@relay.example.com",
			mailer.Config{Host: "relay.example.com", Port: 587, Username: "bob@corp", Password: "p/a#s?s@", TLS: mailer.TLSRequired}},
		{"IPv6 host", "smtp://[::1]:25?starttls=none",
			mailer.Config{Host: "::1", Port: 25, TLS: mailer.TLSNone}},
		{"trailing slash is tolerated", "smtp://relay.example.com/",
			mailer.Config{Host: "relay.example.com", Port: 587, TLS: mailer.TLSRequired}},
		{"user without password", "smtp://apikey@relay.example.com",
			mailer.Config{Host: "relay.example.com", Port: 587, Username: "apikey", TLS: mailer.TLSRequired}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mailer.ParseURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseURL(%q) error: %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("ParseURL(%q)\n got %#v\nwant %#v", tt.raw, got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() of parsed config: %v", err)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const password = "Hunter2-Sekrit"
	tests := []struct {
		name    string
		raw     string
		wantMsg string // a phrase the operator must see
	}{
		{"rejects empty", "  ", "empty"},
		{"rejects http scheme", "http://bob:" + password + "@relay.example.com", `scheme "http" is not supported`},
		{"rejects missing scheme", "relay.example.com:587", "must start with smtp:// or smtps://"},
		{"rejects opaque form", "smtp:relay.example.com:25", "must start with smtp://"},
		{"rejects missing host", "smtp://bob:" + password + "@:587", "no host"},
		{"rejects missing host without user", "smtps://", "no host"},
		{"rejects port zero", "smtp://relay.example.com:0", `port "0"`},
		{"rejects port out of range", "smtp://bob:" + password + "@relay.example.com:70000", `port "70000"`},
		{"rejects non-numeric port", "smtp://bob:" + password + "@relay.example.com:smtp", "not a valid URL"},
		{"rejects unknown starttls mode", "smtp://relay.example.com?starttls=yes", `starttls="yes"`},
		{"rejects starttls on smtps", "smtps://relay.example.com?starttls=none", "does not apply to smtps"},
		{"rejects unknown parameter", "smtp://relay.example.com?tls=none", `parameter "tls" is unknown`},
		{"rejects a path", "smtp://relay.example.com/mail", "must not have a path"},
		{"rejects password without user", "smtp://:" + password + "@relay.example.com", "no user name"},
		{"rejects unencoded slash in password", "smtp://bob:" + password + "/x@relay.example.com", "percent-encode"},
		{"rejects unencoded hash in password", "smtp://bob:" + password + "#x@relay.example.com", "percent-encode"},
		{"rejects unencoded question mark in password", "smtp://bob:" + password + "?x@relay.example.com", "percent-encode"},
		{"rejects numeric password with unencoded hash", "smtp://bob:1234#" + password + "@relay.example.com", "percent-encode"},
		{"rejects space in host", "smtp://bob:" + password + "@relay example.com", "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mailer.ParseURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseURL(%q) = %#v, want an error", tt.raw, got)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseURL(%q) error = %q, want it to mention %q", tt.raw, err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "Hunter2") || strings.Contains(err.Error(), "Sekrit") {
				t.Errorf("ParseURL(%q) error = %q, leaks (part of) the password", tt.raw, err)
			}
		})
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	cfg := mailer.Config{Host: "relay.example.com", Port: 587, Username: "bob", Password: "Hunter2", TLS: mailer.TLSRequired}
	for name, s := range map[string]string{
		"String":   cfg.String(),
		"LogValue": cfg.LogValue().String(),
	} {
		if strings.Contains(s, "Hunter2") {
			t.Errorf("%s = %q, shows the password", name, s)
		}
	}
	if got, want := cfg.String(), "bob:REDACTED@relay.example.com:587 tls=required"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
