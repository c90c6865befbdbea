package stdwebhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The example published with the Standard Webhooks specification (and its reference
// libraries' tests): this exact secret, id, timestamp and body sign to this value.
func TestSignReproducesTheSpecExample(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	ts := time.Unix(1614265330, 0)
	got, err := Sign(secret, id, ts, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"invoice.delivered"}`)
	signed, err := Headers(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret()
	tests := []struct {
		name   string
		secret string
		h      func() http.Header
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"accepts its own signature", secret, signed.Clone, body, now, true},
		{"accepts one of several signatures (secret rotation)", secret, func() http.Header {
			h := signed.Clone()
			h.Set(HeaderSignature, "v1,bm9wZQ== "+h.Get(HeaderSignature))
			return h
		}, body, now, true},
		{"refuses another secret", other, signed.Clone, body, now, false},
		{"refuses a changed body", secret, signed.Clone, []byte(`{"type":"invoice.bounced"}`), now, false},
		{"refuses a changed id", secret, func() http.Header { h := signed.Clone(); h.Set(HeaderID, "msg_2"); return h }, body, now, false},
		{"refuses an old timestamp (replay)", secret, signed.Clone, body, now.Add(6 * time.Minute), false},
		{"refuses a non-v1 scheme", secret, func() http.Header {
			h := signed.Clone()
			h.Set(HeaderSignature, strings.Replace(h.Get(HeaderSignature), "v1,", "v1a,", 1))
			return h
		}, body, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.h(), tt.body, tt.now, 5*time.Minute)
			if got := err == nil; got != tt.ok {
				t.Errorf("got err %v, want ok %v", err, tt.ok)
			}
			if err != nil && tt.secret == secret && !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPosterRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	secret, _ := NewSecret()
	_, err := NewPoster(time.Second, false).Post(context.Background(), srv.URL, secret, "msg_1", time.Now(), []byte("{}"))
	if !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("posting to %s: got %v, want ErrPrivateAddress", srv.URL, err)
	}
	res, err := NewPoster(time.Second, true).Post(context.Background(), srv.URL, secret, "msg_1", time.Now(), []byte("{}"))
	if err != nil || res.StatusCode != 200 {
		t.Errorf("with private addresses allowed: got %+v, %v", res, err)
	}
	for _, a := range []string{"10.1.2.3", "192.168.0.1", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "0.0.0.0"} {
		if publicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as public", a)
		}
	}
	if !publicAddr(netip.MustParseAddr("93.184.216.34")) {
		t.Error("a public address counted as private")
	}
}
