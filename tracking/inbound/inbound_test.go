package inbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/smtp"
	"strings"
	"sync"
	"testing"
)

// recorder is a fake Handler: the listener's only consumer-side interface.
type recorder struct {
	mu   sync.Mutex
	got  []Envelope
	fail bool
}

func (r *recorder) HandleReport(_ context.Context, env Envelope, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("store down")
	}
	r.got = append(r.got, env)
	return nil
}

func send(addr, rcpt, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

func TestListener(t *testing.T) {
	rec := &recorder{}
	srv, err := Start(Config{Addr: "127.0.0.1:0", Domain: "Bounces.Example.com", MaxBytes: 4096}, rec,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	report := "Subject: report\r\n\r\nhello\r\n"

	tests := []struct {
		name, rcpt, body string
		fail             bool
		wantCode         string // "" accepts
	}{
		{"accepts a bounce address, whatever the case of the domain", "bounce+abc@bounces.example.COM", report, false, ""},
		{"refuses other domains at RCPT", "postmaster@example.com", report, false, "550"},
		{"refuses a subdomain", "bounce+abc@x.bounces.example.com", report, false, "550"},
		{"refuses messages over the size limit", "bounce+abc@bounces.example.com", report + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 80), false, "552"},
		{"asks the sender to retry when the report cannot be kept", "bounce+abc@bounces.example.com", report, true, "451"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.fail, rec.got = tt.fail, nil
			rec.mu.Unlock()
			err := send(srv.Addr(), tt.rcpt, tt.body)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if len(rec.got) != 1 || rec.got[0].RcptTo != tt.rcpt || !strings.HasPrefix(rec.got[0].RemoteAddr, "127.0.0.1:") {
					t.Errorf("handler got %+v", rec.got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("got %v, want a %s reply", err, tt.wantCode)
			}
			if len(rec.got) != 0 {
				t.Errorf("handler got %+v, want nothing", rec.got)
			}
		})
	}
}
