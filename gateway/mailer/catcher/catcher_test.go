package catcher_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
)

const body = "From: a@shop.test\r\nTo: b@customer.test\r\nSubject: hi\r\n\r\nline one\r\n.leading dot\r\n"

// send delivers one message with go-smtp's client and returns the reply text to the
// data (enhanced code included), or the error. Safe to call from any goroutine.
func send(addr, from string, to []string, data string) (string, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return "", err
	}
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	_ = c.Quit()
	return resp.StatusText, nil
}

func TestCatcherAcceptsLikePostfix(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	srv := catcher.MustStart(t, catcher.Options{Dir: dir})

	reply, err := send(srv.Addr(), "bounces+x@gw.test", []string{"b@customer.test", "c@customer.test"}, body)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if !regexp.MustCompile(`^2\.0\.0 Ok: queued as [0-9A-F]{10}$`).MatchString(reply) {
		t.Errorf("reply = %q, want %q", reply, "2.0.0 Ok: queued as <10 hex digits>")
	}

	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Messages() has %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "bounces+x@gw.test" {
		t.Errorf("From = %q, want %q", got.From, "bounces+x@gw.test")
	}
	if strings.Join(got.To, ",") != "b@customer.test,c@customer.test" {
		t.Errorf("To = %q, want both recipients", got.To)
	}
	if string(got.Data) != body {
		t.Errorf("Data = %q, want exactly %q", got.Data, body)
	}
	if time.Since(got.Received) > time.Minute {
		t.Errorf("Received = %v, want about now", got.Received)
	}

	files, err := filepath.Glob(filepath.Join(dir, "*-1.eml"))
	if err != nil || len(files) != 1 {
		t.Fatalf("files in %s = %v (err %v), want one <nanos>-1.eml", dir, files, err)
	}
	onDisk, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatalf("read %s: %v", files[0], err)
	}
	if !bytes.Equal(onDisk, got.Data) {
		t.Errorf("%s holds %q, want the message data", files[0], onDisk)
	}

	// Messages returns a copy: changing it must not change the catcher.
	msgs[0].Data[0] = 'X'
	if srv.Messages()[0].Data[0] == 'X' {
		t.Error("Messages() shares its data with the catcher")
	}
}

func TestCatcherReplyOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		outcome   catcher.Outcome
		wantCode  int
		wantEnh   smtp.EnhancedCode
		wantText  string
		wantReply string // for accepted messages
	}{
		{name: "rejects with 451 and enhanced code", outcome: catcher.Outcome{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "Try again later"},
			wantCode: 451, wantEnh: smtp.EnhancedCode{4, 3, 0}, wantText: "Try again later"},
		{name: "rejects with 550 and a default enhanced code", outcome: catcher.Outcome{Code: 550, Text: "No"},
			wantCode: 550, wantEnh: smtp.EnhancedCode{5, 0, 0}, wantText: "No"},
		{name: "accepts with custom text", outcome: catcher.Outcome{Text: "Ok: queued as ABCDEF0123"},
			wantReply: "2.0.0 Ok: queued as ABCDEF0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotN []int
			srv := catcher.MustStart(t, catcher.Options{Reply: func(n int, m catcher.Message) catcher.Outcome {
				gotN = append(gotN, n)
				if string(m.Data) != body {
					t.Errorf("Reply got data %q, want %q", m.Data, body)
				}
				return tt.outcome
			}})
			reply, err := send(srv.Addr(), "a@shop.test", []string{"b@customer.test"}, body)
			if tt.wantCode == 0 {
				if err != nil || reply != tt.wantReply {
					t.Errorf("reply = %q, err = %v, want %q", reply, err, tt.wantReply)
				}
				if n := len(srv.Messages()); n != 1 {
					t.Errorf("Messages() has %d messages, want 1", n)
				}
				return
			}
			var serr *smtp.SMTPError
			if !errors.As(err, &serr) {
				t.Fatalf("err = %v, want an *smtp.SMTPError", err)
			}
			if serr.Code != tt.wantCode || serr.EnhancedCode != tt.wantEnh || serr.Message != tt.wantText {
				t.Errorf("reply = %d %v %q, want %d %v %q", serr.Code, serr.EnhancedCode, serr.Message, tt.wantCode, tt.wantEnh, tt.wantText)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("Messages() has %d messages after a rejection, want 0", n)
			}
			if len(gotN) != 1 || gotN[0] != 1 {
				t.Errorf("Reply saw transfer numbers %v, want [1]", gotN)
			}
		})
	}
}

func TestCatcherDropEndsConnectionWithoutReply(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{Reply: func(int, catcher.Message) catcher.Outcome {
		return catcher.Outcome{Drop: true}
	}})
	_, err := send(srv.Addr(), "a@shop.test", []string{"b@customer.test"}, body)
	if err == nil {
		t.Fatal("send succeeded, want the connection to end without a reply")
	}
	var serr *smtp.SMTPError
	if errors.As(err, &serr) {
		t.Errorf("got an SMTP reply %d %q, want none", serr.Code, serr.Message)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() has %d messages, want 0 (a dropped message is not accepted)", n)
	}
}

func TestCatcherWait(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{})

	go func() {
		time.Sleep(100 * time.Millisecond)
		for range 2 {
			_, _ = send(srv.Addr(), "a@shop.test", []string{"b@customer.test"}, body)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.Wait(ctx, 2)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Wait(2) = %d messages, %v; want 2, nil", len(msgs), err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	msgs, err = srv.Wait(short, 3)
	if !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 2 {
		t.Errorf("Wait(3) = %d messages, %v; want 2 and a deadline error", len(msgs), err)
	}
}

func TestCatcherRejectsOversizedMessage(t *testing.T) {
	t.Parallel()
	srv := catcher.MustStart(t, catcher.Options{})
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", catcher.MaxMessageBytes/1000+1)
	_, err := send(srv.Addr(), "a@shop.test", []string{"b@customer.test"}, big)
	var serr *smtp.SMTPError
	if !errors.As(err, &serr) || serr.Code != 552 {
		t.Errorf("err = %v, want a 552 reply", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() has %d messages, want 0", n)
	}
}

func TestCatcherCloseInterruptsDelayedReply(t *testing.T) {
	t.Parallel()
	srv, err := catcher.Start("127.0.0.1:0", catcher.Options{Reply: func(int, catcher.Message) catcher.Outcome {
		return catcher.Outcome{Delay: time.Minute}
	}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = send(srv.Addr(), "a@shop.test", []string{"b@customer.test"}, body)
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s, want it to interrupt the delay", d)
	}
	<-done
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() has %d messages, want 0", n)
	}
}
