package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
)

// pdf stands in for a rendered invoice: binary bytes, including a line that is only a
// dot, which SMTP must dot-stuff and unstuff.
var pdf = append([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n.\n"), bytes.Repeat([]byte{0, 1, 2, 0xff, '\r', '\n', '.'}, 3000)...)

func invoiceMail(to gateway.Contact) gateway.Mail {
	return gateway.Mail{
		MessageID:    "dlv_01JT9Z3Q8X@gw.example",
		From:         gateway.Contact{Name: "Acme Billing", Email: "billing@acme.example"},
		ReplyTo:      "ar@acme.example",
		To:           to,
		EnvelopeFrom: "bounces+dlv_01JT9Z3Q8X@gw.example",
		Subject:      "Invoice INV-2026-0042 from Acme – due 2026-12-23",
		Text:         "Dear Jane,\n\nplease find invoice INV-2026-0042 attached.\n",
		HTML:         "<p>Dear Jane,</p><p>please find invoice <b>INV-2026-0042</b> attached.</p>",
		Attachments:  []gateway.Attachment{{Name: "INV-2026-0042.pdf", ContentType: "application/pdf", Data: pdf}},
	}
}

var jane = gateway.Contact{Name: "Jane Doe", Email: "jane.doe@customer.test"}

// senderFor returns a Sender for the server at addr, plaintext, with a short timeout.
func senderFor(t *testing.T, addr string, edit func(*mailer.Config)) *mailer.Sender {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("split %q: %v", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	cfg := mailer.Config{Host: host, Port: port, TLS: mailer.TLSNone, HELO: "gw.test", Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	return mailer.New(cfg, nil)
}

func TestSendDeliversInvoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		to       gateway.Contact
		wantName string
	}{
		{"plain display name", jane, "Jane Doe"},
		{"display name with accents and quotes", gateway.Contact{Name: `Zoë "Z" Müller`, Email: "zoe@customer.test"}, `Zoë "Z" Müller`},
		{"display name with comma", gateway.Contact{Name: "Doe, Jane", Email: "jane.doe@customer.test"}, "Doe, Jane"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := catcher.MustStart(t, catcher.Options{})
			m := invoiceMail(tt.to)

			res, err := senderFor(t, srv.Addr(), nil).Send(context.Background(), m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !strings.HasPrefix(res.Reply, "2.0.0 Ok: queued as ") {
				t.Errorf("Reply = %q, want it to start with %q", res.Reply, "2.0.0 Ok: queued as ")
			}
			if res.Relay != srv.Addr() {
				t.Errorf("Relay = %q, want %q", res.Relay, srv.Addr())
			}

			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("catcher accepted %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != m.EnvelopeFrom {
				t.Errorf("MAIL FROM = %q, want the envelope sender %q", got.From, m.EnvelopeFrom)
			}
			if len(got.To) != 1 || got.To[0] != tt.to.Email {
				t.Errorf("RCPT TO = %q, want [%q]", got.To, tt.to.Email)
			}
			checkInvoiceMessage(t, got.Data, m, tt.wantName)
		})
	}
}

// checkInvoiceMessage parses data as a recipient's mail client would.
func checkInvoiceMessage(t *testing.T, data []byte, m gateway.Mail, wantName string) {
	t.Helper()
	if !bytes.Contains(data, []byte("\r\nMessage-ID: <"+m.MessageID+">\r\n")) {
		t.Errorf("raw message lacks the header line %q", "Message-ID: <"+m.MessageID+">")
	}
	mr, err := gomail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	h := mr.Header

	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 {
		t.Fatalf("To = %v (err %v), want one address", to, err)
	}
	if to[0].Name != wantName || to[0].Address != m.To.Email {
		t.Errorf("To = %q <%s>, want %q <%s>", to[0].Name, to[0].Address, wantName, m.To.Email)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != m.From.Name || from[0].Address != m.From.Email {
		t.Errorf("From = %v (err %v), want %q <%s>", from, err, m.From.Name, m.From.Email)
	}
	replyTo, err := h.AddressList("Reply-To")
	if err != nil || len(replyTo) != 1 || replyTo[0].Address != m.ReplyTo {
		t.Errorf("Reply-To = %v (err %v), want %s", replyTo, err, m.ReplyTo)
	}
	if subject, err := h.Subject(); err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (err %v), want %q", subject, err, m.Subject)
	}
	if id, err := h.MessageID(); err != nil || id != m.MessageID {
		t.Errorf("Message-ID = %q (err %v), want %q", id, err, m.MessageID)
	}
	if date, err := h.Date(); err != nil || time.Since(date) > time.Minute || time.Until(date) > time.Minute {
		t.Errorf("Date = %v (err %v), want about now", date, err)
	}
	if h.Get("User-Agent") != "" || h.Get("X-Mailer") != "" {
		t.Errorf("User-Agent = %q, X-Mailer = %q, want neither", h.Get("User-Agent"), h.Get("X-Mailer"))
	}

	var text, html string
	var attachments int
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		switch ph := p.Header.(type) {
		case *gomail.InlineHeader:
			ct, _, _ := ph.ContentType()
			switch ct {
			case "text/plain":
				text = string(body)
			case "text/html":
				html = string(body)
			default:
				t.Errorf("unexpected inline part %q", ct)
			}
		case *gomail.AttachmentHeader:
			attachments++
			name, _ := ph.Filename()
			ct, _, _ := ph.ContentType()
			if name != "INV-2026-0042.pdf" || ct != "application/pdf" {
				t.Errorf("attachment = %q (%s), want INV-2026-0042.pdf (application/pdf)", name, ct)
			}
			if !bytes.Equal(body, pdf) {
				t.Errorf("attachment bytes differ from the PDF sent (got %d bytes, want %d)", len(body), len(pdf))
			}
		}
	}
	// go-mail writes CRLF line ends in the text part; the meaning is the same.
	if got := strings.ReplaceAll(text, "\r\n", "\n"); got != m.Text {
		t.Errorf("text part = %q, want %q", got, m.Text)
	}
	if html != m.HTML {
		t.Errorf("html part = %q, want %q", html, m.HTML)
	}
	if attachments != 1 {
		t.Errorf("got %d attachments, want 1", attachments)
	}
}

func TestSendClassifiesRelayFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		outcome       catcher.Outcome
		timeout       time.Duration
		wantPermanent bool
		wantPhase     gateway.SendPhase
		wantReply     string
		wantAccepted  int // messages the catcher counts as accepted in the end
	}{
		{
			name:      "451 to the data is temporary, before data, reply kept",
			outcome:   catcher.Outcome{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Try again later"},
			wantPhase: gateway.PhaseBeforeData, wantReply: "451 4.3.0 Try again later",
		},
		{
			name:          "550 to the data is permanent, before data, reply kept",
			outcome:       catcher.Outcome{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Message rejected as spam"},
			wantPermanent: true, wantPhase: gateway.PhaseBeforeData, wantReply: "550 5.7.1 Message rejected as spam",
		},
		{
			name:      "connection dropped after the data is after data",
			outcome:   catcher.Outcome{Drop: true},
			wantPhase: gateway.PhaseAfterData,
		},
		{
			// The relay queues the message but answers after the client gave up: the
			// honest answer is "maybe delivered" (unknown_outcome), never a blind retry.
			name:      "reply slower than the timeout is after data, and the relay did queue it",
			outcome:   catcher.Outcome{Delay: 1500 * time.Millisecond},
			timeout:   500 * time.Millisecond,
			wantPhase: gateway.PhaseAfterData, wantAccepted: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var transmitted [][]byte
			srv := catcher.MustStart(t, catcher.Options{Reply: func(_ int, m catcher.Message) catcher.Outcome {
				mu.Lock()
				transmitted = append(transmitted, m.Data)
				mu.Unlock()
				return tt.outcome
			}})
			s := senderFor(t, srv.Addr(), func(c *mailer.Config) {
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})
			m := invoiceMail(jane)

			res, err := s.Send(context.Background(), m)
			serr := asSendError(t, res, err)
			t.Logf("error: %v", err)
			if serr.Permanent != tt.wantPermanent {
				t.Errorf("Permanent = %v, want %v (err: %v)", serr.Permanent, tt.wantPermanent, err)
			}
			if serr.Phase != tt.wantPhase {
				t.Errorf("Phase = %v, want %v (err: %v)", serr.Phase, tt.wantPhase, err)
			}
			if serr.Reply != tt.wantReply {
				t.Errorf("Reply = %q, want %q", serr.Reply, tt.wantReply)
			}

			// Every case got as far as transmitting the whole message.
			mu.Lock()
			if len(transmitted) != 1 || !bytes.Contains(transmitted[0], []byte("<"+m.MessageID+">")) {
				t.Errorf("catcher saw %d complete transfers, want 1 with the message", len(transmitted))
			}
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if got, _ := srv.Wait(ctx, tt.wantAccepted); len(got) != tt.wantAccepted {
				t.Errorf("catcher accepted %d messages, want %d", len(got), tt.wantAccepted)
			}
		})
	}
}

func TestSendClassifiesFailuresBeforeData(t *testing.T) {
	t.Parallel()
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	tests := []struct {
		name          string
		addr          func(t *testing.T) string
		edit          func(*mailer.Config)
		wantPermanent bool
		wantReply     string
		wantErr       string // phrase in the error, for an operator
	}{
		{
			name: "closed port is temporary",
			addr: closedPort, wantErr: "connection refused",
		},
		{
			name:    "required STARTTLS against a relay without it is temporary",
			addr:    func(t *testing.T) string { return catcher.MustStart(t, catcher.Options{}).Addr() },
			edit:    func(c *mailer.Config) { c.TLS = mailer.TLSRequired },
			wantErr: "does not support STARTTLS",
		},
		{
			name: "550 at RCPT is permanent with the reply",
			addr: func(t *testing.T) string {
				return startRelay(t, relayOptions{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}}).addr
			},
			wantPermanent: true, wantReply: "550 5.1.1 User unknown",
		},
		{
			// The relay hangs up after its reply, so go-mail's RSET fails too; the
			// reply must still be the relay's, not the RSET error.
			name: "421 at RCPT then hang-up is temporary with the reply",
			addr: func(t *testing.T) string {
				return startRelay(t, relayOptions{closeOnRcpt: true, rcptErr: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many connections"}}).addr
			},
			wantReply: "421 4.7.0 Too many connections",
		},
		{
			// A rejected password blames our configuration, not the invoice: retry
			// once it is fixed rather than failing every invoice for good.
			name: "wrong password is temporary, with the reply and without the password",
			addr: func(t *testing.T) string {
				return startRelay(t, relayOptions{implicitTLS: true, username: "gw", password: "right-password"}).addr
			},
			edit: func(c *mailer.Config) {
				c.TLS, c.InsecureSkipVerify, c.Username, c.Password = mailer.TLSImplicit, true, "gw", "Wrong-Pa55word"
			},
			wantReply: "535 5.7.8 Authentication failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := senderFor(t, tt.addr(t), tt.edit).Send(context.Background(), invoiceMail(jane))
			serr := asSendError(t, res, err)
			t.Logf("error: %v", err)
			if serr.Permanent != tt.wantPermanent {
				t.Errorf("Permanent = %v, want %v (err: %v)", serr.Permanent, tt.wantPermanent, err)
			}
			if serr.Phase != gateway.PhaseBeforeData {
				t.Errorf("Phase = %v, want PhaseBeforeData (err: %v)", serr.Phase, err)
			}
			if serr.Reply != tt.wantReply {
				t.Errorf("Reply = %q, want %q", serr.Reply, tt.wantReply)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "Pa55word") || strings.Contains(serr.Err.Error(), "Pa55word") {
				t.Errorf("error = %q, shows the password", err)
			}
		})
	}
}

func TestSendRejectsMalformedMailPermanently(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{})
	s := senderFor(t, srv.Addr(), nil)
	tests := []struct {
		name string
		edit func(*gateway.Mail)
	}{
		{"bad recipient address", func(m *gateway.Mail) { m.To.Email = "jane.doe" }},
		{"bad from address", func(m *gateway.Mail) { m.From.Email = "" }},
		{"message id in angle brackets", func(m *gateway.Mail) { m.MessageID = "<x@gw.example>" }},
		{"bad envelope sender", func(m *gateway.Mail) { m.EnvelopeFrom = "bounces@" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := invoiceMail(jane)
			tt.edit(&m)
			res, err := s.Send(context.Background(), m)
			serr := asSendError(t, res, err)
			if !serr.Permanent || serr.Phase != gateway.PhaseBeforeData {
				t.Errorf("got Permanent=%v Phase=%v, want permanent before data (err: %v)", serr.Permanent, serr.Phase, err)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("catcher accepted %d messages, want 0", n)
	}
}

func TestSendOverTLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts relayOptions
		mode mailer.TLSMode
	}{
		{"implicit TLS with AUTH PLAIN", relayOptions{implicitTLS: true, username: "gw", password: "p@ss"}, mailer.TLSImplicit},
		{"required STARTTLS with AUTH PLAIN", relayOptions{startTLS: true, username: "gw", password: "p@ss"}, mailer.TLSRequired},
		{"opportunistic STARTTLS with AUTH PLAIN", relayOptions{startTLS: true, username: "gw", password: "p@ss"}, mailer.TLSOpportunistic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, tt.opts)
			s := senderFor(t, r.addr, func(c *mailer.Config) {
				c.TLS, c.InsecureSkipVerify, c.Username, c.Password = tt.mode, true, "gw", "p@ss"
			})
			if _, err := s.Send(context.Background(), invoiceMail(jane)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			auths, data := r.counts()
			if len(auths) != 1 || data != 1 {
				t.Errorf("relay saw %d logins and %d messages, want 1 and 1", len(auths), data)
			}
		})
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{Reply: func(int, catcher.Message) catcher.Outcome {
		return catcher.Outcome{Delay: 10 * time.Second}
	}})
	s := senderFor(t, srv.Addr(), func(c *mailer.Config) { c.Timeout = 30 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	res, err := s.Send(ctx, invoiceMail(jane))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send returned after %s, want soon after the context ended", elapsed)
	}
	serr := asSendError(t, res, err)
	t.Logf("error: %v", err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	// The data was out when the context ended: the relay may still queue it.
	if serr.Phase != gateway.PhaseAfterData || serr.Permanent {
		t.Errorf("got Permanent=%v Phase=%v, want temporary after data", serr.Permanent, serr.Phase)
	}
}

func asSendError(t *testing.T, res gateway.SendResult, err error) *gateway.SendError {
	t.Helper()
	if err == nil {
		t.Fatalf("Send succeeded with %+v, want an error", res)
	}
	var serr *gateway.SendError
	if !errors.As(err, &serr) {
		t.Fatalf("error %T %v is not a *gateway.SendError", err, err)
	}
	if res != (gateway.SendResult{}) {
		t.Errorf("result = %+v alongside an error, want zero", res)
	}
	return serr
}
