package providers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// snsRig serves a test signing certificate and a subscription URL from an HTTPS
// server on loopback, as sns.<region>.amazonaws.com would.
type snsRig struct {
	key       *rsa.PrivateKey
	srv       *httptest.Server
	certHits  atomic.Int32
	confirmed atomic.Int32
}

func newSNSRig(t *testing.T) *snsRig {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	rg := &snsRig{key: key}
	rg.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/SimpleNotificationService-test.pem":
			rg.certHits.Add(1)
			w.Write(certPEM)
		case "/confirm":
			rg.confirmed.Add(1)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(rg.srv.Close)
	return rg
}

// message builds a signed SNS message of the given version.
func (rg *snsRig) message(t *testing.T, m snsMessage, version string) []byte {
	t.Helper()
	m.SignatureVersion = version
	if m.SigningCertURL == "" {
		m.SigningCertURL = rg.srv.URL + "/SimpleNotificationService-test.pem"
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(m.stringToSign()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, rg.key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(m.stringToSign()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, rg.key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	b, _ := json.Marshal(m)
	return b
}

const sesBounce = `{"eventType":"Bounce","mail":{"messageId":"0102-ses","commonHeaders":{"messageId":"<dlv_1@gw.test>"}},
 "bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"jane@globex.test","action":"failed","status":"5.1.1",
 "diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2026-11-23T08:00:00Z","reportingMTA":"dns; a1-2.smtp-out.amazonses.com"}}`

const sesDelivery = `{"notificationType":"Delivery","mail":{"messageId":"0102-ses","headers":[{"name":"Message-ID","value":"<dlv_1@gw.test>"}]},
 "delivery":{"timestamp":"2026-11-23T08:00:01Z","recipients":["jane@globex.test"],"smtpResponse":"250 2.6.0 Message received",
 "reportingMTA":"a1-2.smtp-out.amazonses.com","remoteMtaIp":"192.0.2.1"}}`

func TestSNS(t *testing.T) {
	rg := newSNSRig(t)
	host := strings.Split(strings.TrimPrefix(rg.srv.URL, "https://"), ":")[0]
	v := NewSNS([]string{"sns.*.amazonaws.com", host}, rg.srv.Client())
	ctx := context.Background()
	note := func(id, msg string) snsMessage {
		return snsMessage{Type: "Notification", MessageID: id, TopicArn: "arn:aws:sns:eu-west-1:1:ses", Message: msg,
			Timestamp: "2026-11-23T08:00:02.000Z"}
	}

	for _, version := range []string{"1", "2"} {
		t.Run("a SignatureVersion "+version+" bounce notification verifies and maps to a hard bounce", func(t *testing.T) {
			res, err := v.Handle(ctx, rg.message(t, note("sns-b-"+version, sesBounce), version))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Events) != 1 {
				t.Fatalf("got %d events, want 1", len(res.Events))
			}
			e := res.Events[0]
			if e.EventID != "sns-b-"+version || e.MessageID != "dlv_1@gw.test" || e.Report.Kind != dsn.KindBounced ||
				e.Report.Bounce != dsn.BounceHard || e.Report.Status != "5.1.1" || e.Report.ReportingMTA != "a1-2.smtp-out.amazonses.com" {
				t.Errorf("got %+v", e)
			}
		})
	}
	t.Run("the certificate is fetched once and then cached", func(t *testing.T) {
		if got := rg.certHits.Load(); got != 1 {
			t.Errorf("got %d certificate fetches, want 1", got)
		}
	})
	t.Run("a delivery notification maps to delivered with the relay's status", func(t *testing.T) {
		res, err := v.Handle(ctx, rg.message(t, note("sns-d", sesDelivery), "2"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 1 || res.Events[0].Report.Kind != dsn.KindDelivered || res.Events[0].Report.Status != "2.6.0" ||
			res.Events[0].MessageID != "dlv_1@gw.test" {
			t.Errorf("got %+v", res.Events)
		}
	})
	t.Run("a subscription confirmation fetches its SubscribeURL", func(t *testing.T) {
		m := snsMessage{Type: "SubscriptionConfirmation", MessageID: "sns-s", Token: "tok", TopicArn: "arn:aws:sns:eu-west-1:1:ses",
			Message: "You have chosen to subscribe", SubscribeURL: rg.srv.URL + "/confirm", Timestamp: "2026-11-23T08:00:00.000Z"}
		res, err := v.Handle(ctx, rg.message(t, m, "1"))
		if err != nil || !res.Confirmed || rg.confirmed.Load() != 1 {
			t.Errorf("got %+v, %v, %d confirmations; want confirmed once", res, err, rg.confirmed.Load())
		}
	})

	refusals := []struct {
		name string
		body func() []byte
	}{
		{"a tampered message", func() []byte {
			b := rg.message(t, note("sns-x", sesBounce), "2")
			return []byte(strings.Replace(string(b), "Permanent", "Transient", 1))
		}},
		{"a certificate from a host off the allowlist", func() []byte {
			m := note("sns-y", sesBounce)
			m.SigningCertURL = strings.Replace(rg.srv.URL, host, "localhost", 1) + "/SimpleNotificationService-test.pem"
			return rg.message(t, m, "2")
		}},
		{"a certificate over plain http", func() []byte {
			m := note("sns-z", sesBounce)
			m.SigningCertURL = strings.Replace(rg.srv.URL, "https", "http", 1) + "/SimpleNotificationService-test.pem"
			return rg.message(t, m, "2")
		}},
		{"an unknown signature version", func() []byte { return rg.message(t, note("sns-v", sesBounce), "3") }},
		{"a subscription URL off the allowlist", func() []byte {
			m := snsMessage{Type: "SubscriptionConfirmation", MessageID: "sns-t", Token: "tok", TopicArn: "arn",
				SubscribeURL: "https://evil.test/confirm", Timestamp: "2026-11-23T08:00:00.000Z"}
			return rg.message(t, m, "2")
		}},
	}
	for _, tt := range refusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			hits := rg.certHits.Load()
			if _, err := v.Handle(ctx, tt.body()); !errors.Is(err, ErrSignature) {
				t.Errorf("got %v, want ErrSignature", err)
			}
			if rg.certHits.Load() != hits {
				t.Errorf("a refused message fetched a certificate")
			}
		})
	}
}

func TestMatchHost(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"sns.*.amazonaws.com", "sns.eu-west-1.amazonaws.com", true},
		{"sns.*.amazonaws.com", "sns.amazonaws.com", false},
		{"sns.*.amazonaws.com", "sns.eu-west-1.amazonaws.com.evil.test", false},
		{"sns.*.amazonaws.com", "evil.sns.eu-west-1.amazonaws.com", false},
		{"sns.*.amazonaws.com", "sns..amazonaws.com", false},
	}
	for _, tt := range tests {
		if got := matchHost(tt.pattern, tt.host); got != tt.want {
			t.Errorf("matchHost(%q, %q): got %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestPostmark(t *testing.T) {
	req := func(user, pass, token string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/providers/postmark", nil)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		if token != "" {
			r.Header.Set(TokenHeader, token)
		}
		return r
	}
	tests := []struct {
		name string
		p    Postmark
		r    *http.Request
		ok   bool
	}{
		{"accepts the configured basic auth", Postmark{User: "pm", Password: "s3cret"}, req("pm", "s3cret", ""), true},
		{"refuses a wrong password", Postmark{User: "pm", Password: "s3cret"}, req("pm", "guess", ""), false},
		{"accepts the configured token", Postmark{Token: "tkn"}, req("", "", "tkn"), true},
		{"refuses a missing token", Postmark{Token: "tkn"}, req("pm", "s3cret", ""), false},
		{"refuses everything when nothing is configured", Postmark{}, req("pm", "s3cret", "tkn"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Verify(tt.r)
			if got := err == nil; got != tt.ok {
				t.Errorf("got %v, want ok %v", err, tt.ok)
			}
		})
	}
	evs, err := ParsePostmark([]byte(`{"RecordType":"Bounce","ID":42,"Type":"HardBounce","MessageID":"pm-1","Email":"jane@globex.test",
		"Details":"smtp;550 5.1.1 The email account does not exist","BouncedAt":"2026-11-23T08:00:00Z","Metadata":{"message_id":"dlv_1@gw.test"}}`))
	if err != nil || len(evs) != 1 {
		t.Fatalf("got %v, %v", evs, err)
	}
	if e := evs[0]; e.EventID != "bounce:42" || e.MessageID != "dlv_1@gw.test" || e.Report.Bounce != dsn.BounceHard || e.Report.Status != "5.1.1" {
		t.Errorf("got %+v", e)
	}
}

func TestMailgun(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := func(key string, ts time.Time, event string) []byte {
		tsText, token := fmt.Sprint(ts.Unix()), "f2e4b5c6d7e8"
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write([]byte(tsText + token))
		return []byte(fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
			tsText, token, hex.EncodeToString(mac.Sum(nil)), event))
	}
	failed := `{"event":"failed","id":"mg-1","timestamp":1800000000.5,"severity":"permanent","recipient":"jane@globex.test",
		"message":{"headers":{"message-id":"dlv_1@gw.test"}},"delivery-status":{"code":550,"message":"5.1.1 no such user","mx-host":"mx.globex.test"}}`
	temp := `{"event":"failed","id":"mg-2","timestamp":1800000000,"severity":"temporary","recipient":"jane@globex.test",
		"message":{"headers":{"message-id":"dlv_1@gw.test"}},"delivery-status":{"code":451,"message":"try later"}}`
	m := Mailgun{SigningKey: "key-abc", Now: func() time.Time { return now }}

	evs, err := m.Parse(body("key-abc", now, failed))
	if err != nil || len(evs) != 1 {
		t.Fatalf("got %v, %v", evs, err)
	}
	if e := evs[0]; e.EventID != "mg-1" || e.MessageID != "dlv_1@gw.test" || e.Report.Kind != dsn.KindBounced ||
		e.Report.Bounce != dsn.BounceHard || e.Report.Status != "5.1.1" || e.Report.RemoteMTA != "mx.globex.test" {
		t.Errorf("got %+v", e)
	}
	evs, err = m.Parse(body("key-abc", now, temp))
	if err != nil || len(evs) != 1 || evs[0].Report.Kind != dsn.KindDelayed {
		t.Errorf("a temporary failure: got %+v, %v; want delayed", evs, err)
	}
	if _, err := m.Parse(body("key-other", now, failed)); !errors.Is(err, ErrSignature) {
		t.Errorf("another signing key: got %v, want ErrSignature", err)
	}
	if _, err := m.Parse(body("key-abc", now.Add(-time.Hour), failed)); !errors.Is(err, ErrSignature) {
		t.Errorf("an hour-old signature (replay): got %v, want ErrSignature", err)
	}
}

func TestSendGrid(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sg, err := NewSendGrid(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	sg.Now = func() time.Time { return now }
	body := []byte(`[{"email":"jane@globex.test","timestamp":1800000000,"smtp-id":"<dlv_1@gw.test>","event":"delivered",
		"sg_event_id":"sg-1","response":"250 2.0.0 OK"},{"email":"jane@globex.test","timestamp":1800000001,"event":"open","sg_event_id":"sg-2"},
		{"email":"ap@globex.test","timestamp":1800000002,"smtp-id":"<dlv_2@gw.test>","event":"bounce","type":"bounce","status":"5.1.1",
		"reason":"550 5.1.1 unknown","sg_event_id":"sg-3"}]`)
	sign := func(ts string, b []byte) http.Header {
		d := sha256.Sum256(append([]byte(ts), b...))
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
		h.Set(SendGridTimestampHeader, ts)
		return h
	}
	evs, err := sg.Parse(sign("1800000000", body), body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Report.Kind != dsn.KindDelivered || evs[0].MessageID != "dlv_1@gw.test" ||
		evs[1].Report.Kind != dsn.KindBounced || evs[1].Report.Bounce != dsn.BounceHard || evs[1].EventID != "sg-3" {
		t.Errorf("got %+v, want delivered and a hard bounce (the open skipped)", evs)
	}
	tampered := []byte(strings.Replace(string(body), "delivered", "bounce", 1))
	if _, err := sg.Parse(sign("1800000000", body), tampered); !errors.Is(err, ErrSignature) {
		t.Errorf("a tampered body: got %v, want ErrSignature", err)
	}
	if _, err := sg.Parse(sign("1799990000", body), body); !errors.Is(err, ErrSignature) {
		t.Errorf("an old timestamp: got %v, want ErrSignature", err)
	}
}

// FuzzProviderPayloads feeds arbitrary bodies to the payload mappers (after the
// signature, which an attacker with a leaked key could satisfy): no panics.
func FuzzProviderPayloads(f *testing.F) {
	f.Add([]byte(sesBounce))
	f.Add([]byte(sesDelivery))
	f.Add([]byte(`{"RecordType":"Delivery","MessageID":"x","Recipient":"a@b","DeliveredAt":"2026-11-23T08:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = sesEvent("id", b)
		_, _ = ParsePostmark(b)
	})
}
