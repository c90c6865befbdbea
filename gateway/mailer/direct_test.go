package mailer_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// startDNS serves the given MX and A records on a loopback UDP port and returns its
// address. Names are fully qualified ("customer.test.").
func startDNS(t *testing.T, mx map[string][]*dns.MX, a map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch q.Qtype {
		case dns.TypeMX:
			for _, r := range mx[q.Name] {
				rr := *r
				rr.Hdr = dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}
				m.Answer = append(m.Answer, &rr)
			}
		case dns.TypeA:
			if ip, ok := a[q.Name]; ok {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
			}
		}
		if len(m.Answer) == 0 && mx[q.Name] == nil && a[q.Name] == "" {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func portOf(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func TestDirectTriesMXInPreferenceOrder(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{})
	// mx1 (preferred) answers nowhere: 127.0.0.2 has nothing on the catcher's port.
	resolver := startDNS(t, map[string][]*dns.MX{
		"customer.test.": {{Preference: 20, Mx: "mx2.customer.test."}, {Preference: 10, Mx: "mx1.customer.test."}},
	}, map[string]string{"mx1.customer.test.": "127.0.0.2", "mx2.customer.test.": "127.0.0.1"})
	d, err := mailer.NewDirect(mailer.DirectConfig{Resolver: resolver, Port: portOf(t, srv.Addr()), HELO: "gw.test", Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := invoiceMail(gateway.Contact{Name: "Jane", Email: "jane@customer.test"})
	raw, err := mailer.Builder{}.BuildMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Transmit(context.Background(), gateway.Envelope{From: "bounce+x@gw.test", To: "jane@customer.test", EnvID: "dlv_1"}, raw)
	if err != nil {
		t.Fatalf("Transmit: %v", err)
	}
	if !res.Direct || res.MXHost != "mx2.customer.test" || res.MXIP != "127.0.0.1" || !strings.HasPrefix(res.Reply, "2.0.0 Ok: queued as ") {
		t.Errorf("result = %+v, want direct via mx2.customer.test at 127.0.0.1 with the 250 text", res)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, raw) {
		t.Fatalf("MX got %d messages (identical: %v), want 1 identical", len(msgs), len(msgs) == 1 && bytes.Equal(msgs[0].Data, raw))
	}

	t.Run("unknown domain fails permanently", func(t *testing.T) {
		_, err := d.Transmit(context.Background(), gateway.Envelope{From: "b@gw.test", To: "x@nowhere.test"}, raw)
		serr := asSendError(t, gateway.SendResult{}, err)
		if !serr.Permanent {
			t.Errorf("err = %v, want permanent (NXDOMAIN)", err)
		}
	})
}

func TestDirectUsesSTARTTLSWhenOffered(t *testing.T) {
	t.Parallel()
	rl := startRelay(t, relayOptions{startTLS: true})
	resolver := startDNS(t, map[string][]*dns.MX{"customer.test.": {{Preference: 10, Mx: "mx.customer.test."}}},
		map[string]string{"mx.customer.test.": "127.0.0.1"})
	d, err := mailer.NewDirect(mailer.DirectConfig{Resolver: resolver, Port: portOf(t, rl.addr), Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := mailer.Builder{}.BuildMessage(invoiceMail(gateway.Contact{Email: "jane@customer.test"}))
	res, err := d.Transmit(context.Background(), gateway.Envelope{From: "b@gw.test", To: "jane@customer.test"}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.TLSVersion, "TLS 1.") {
		t.Errorf("TLS version = %q, want TLS 1.x", res.TLSVersion)
	}
}

// postfixAddr returns the loopback postfix of this checkout's
// deployments/local/postfix.sh, starting it (or reloading it) first: a postfix that
// merely answers on the port may be another checkout's, with another mailbox. An
// instance this test started is stopped when it ends: left running, it would hold
// the port against every other checkout's tests (a CI clone's among them).
func postfixAddr(t *testing.T) (addr, maildir string) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	script := filepath.Join(root, "deployments/local/postfix.sh")
	addr = os.Getenv("INVOICEGW_TEST_POSTFIX_ADDR")
	if addr == "" {
		addr = "127.0.0.1:2587"
	}
	status, _ := exec.Command(script, "status").Output()
	out, err := exec.Command(script, "start").CombinedOutput()
	if err != nil {
		servicetest.Unavailable(t, "`deployments/local/postfix.sh start` failed: "+string(out))
	}
	if !strings.Contains(string(status), " running on ") {
		t.Cleanup(func() {
			if out, err := exec.Command(script, "stop").CombinedOutput(); err != nil {
				t.Errorf("postfix.sh stop: %v: %s", err, out)
			}
		})
	}
	mailbox, err := exec.Command(script, "mailbox").Output()
	if err != nil {
		t.Fatalf("postfix.sh mailbox: %v", err)
	}
	return addr, strings.TrimSpace(string(mailbox))
}

// delivered waits for the Maildir file holding messageID and returns its bytes.
func delivered(t *testing.T, maildir, messageID string, within time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		var found [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && bytes.Contains(b, []byte("Message-ID: <"+messageID+">")) {
				found = append(found, b)
			}
		}
		if len(found) > 0 || time.Now().After(deadline) {
			time.Sleep(300 * time.Millisecond) // a duplicate would land right after
			files, _ = filepath.Glob(filepath.Join(maildir, "new", "*"))
			found = found[:0]
			for _, f := range files {
				if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("Message-ID: <"+messageID+">")) {
					found = append(found, b)
				}
			}
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withoutTrace drops the header lines the MTA adds in front of the message.
func withoutTrace(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	for {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return b
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch string(name) {
		case "Return-Path", "Delivered-To", "X-Original-To", "Received":
			b = rest
			// Folded continuation lines belong to the trace header.
			for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
				_, b, _ = bytes.Cut(b, []byte("\n"))
			}
		default:
			return b
		}
	}
}

func TestPostfixRelayAndDirect(t *testing.T) {
	t.Parallel()
	addr, maildir := postfixAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	resolver := startDNS(t, map[string][]*dns.MX{"customer.test.": {{Preference: 10, Mx: "mx.customer.test."}}},
		map[string]string{"mx.customer.test.": host})
	direct, err := mailer.NewDirect(mailer.DirectConfig{Resolver: resolver, Port: p, HELO: "gw.test", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	relay := mailer.New(mailer.Config{Host: host, Port: p, TLS: mailer.TLSNone, HELO: "gw.test", Timeout: 5 * time.Second}, nil)
	t.Cleanup(func() { _ = relay.Close() })
	for _, tc := range []struct {
		name string
		tr   gateway.Mailer
	}{{"relay", relay}, {"direct", direct}} {
		t.Run(tc.name, func(t *testing.T) {
			m := invoiceMail(gateway.Contact{Name: "Jane Doe", Email: "jane." + tc.name + "@customer.test"})
			m.MessageID = "dlv_" + tc.name + strconv.FormatInt(time.Now().UnixNano(), 36) + "@gw.test"
			raw, err := mailer.Builder{}.BuildMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tc.tr.Transmit(context.Background(), gateway.Envelope{From: "bounce+t@gw.test", To: m.To.Email, EnvID: "dlv_x"}, raw)
			if err != nil {
				t.Fatalf("Transmit: %v", err)
			}
			if !strings.HasPrefix(res.Reply, "2.0.0 Ok: queued as ") {
				t.Errorf("reply = %q, want postfix's queue id", res.Reply)
			}
			if res.Direct != (tc.name == "direct") {
				t.Errorf("Direct = %v", res.Direct)
			}
			got := delivered(t, maildir, m.MessageID, 15*time.Second)
			if len(got) != 1 {
				t.Fatalf("mailbox holds %d copies, want exactly 1", len(got))
			}
			if want := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")); !bytes.Equal(withoutTrace(got[0]), want) {
				t.Errorf("delivered message differs from the sent bytes apart from trace headers")
			}
		})
	}
}
