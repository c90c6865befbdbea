package catcher

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// MaxMessageBytes is the largest message the catcher takes (advertised in EHLO SIZE).
const MaxMessageBytes = 25 << 20

// Message is one message as received: the envelope and the exact data bytes (CRLF line
// ends, dot-stuffing removed).
type Message struct {
	From     string   // MAIL FROM address, without angle brackets
	To       []string // RCPT TO addresses
	Data     []byte
	Received time.Time
	// DSN parameters the client gave (RFC 3461), for the last recipient.
	Ret    string
	EnvID  string
	Notify []string
}

// Outcome is how the catcher answers the end of a message's data.
type Outcome struct {
	Code     int    // reply code; 0 (or any 2xx) accepts with 250, 4xx/5xx rejects
	Enhanced [3]int // enhanced status code; zero means <Code/100>.0.0
	Text     string // reply text; empty uses a default
	// Drop closes the connection after reading the data, without replying: the
	// RFC 5321 §3.8 case where the client cannot know whether the message was taken.
	Drop bool
	// Delay is slept before replying (or dropping).
	Delay time.Duration
}

// Options configure a Server. The zero value is a plain accepting catcher.
type Options struct {
	// Dir, if set, receives each accepted message as Dir/<unix-nanos>-<seq>.eml.
	// It is created if missing.
	Dir string
	// Domain is announced in the greeting; default "catcher.test".
	Domain string
	// Reply, if set, decides the outcome at the end of each message's data. n counts
	// data transfers on this server so far, starting at 1. It may be called
	// concurrently for different connections.
	Reply func(n int, m Message) Outcome
	// MailDelay, if set, is slept before answering MAIL FROM; n counts MAIL commands
	// on this server, starting at 1. A slow server before the data: the client's
	// timeout there proves nothing was taken.
	MailDelay func(n int) time.Duration
	// Log receives errors and one line per message; nil discards.
	Log *slog.Logger
}

// Server is a running catcher. Close it when done.
type Server struct {
	opts Options
	log  *slog.Logger
	smtp *smtp.Server
	ln   net.Listener

	serveDone chan error
	done      chan struct{} // closed by Close: interrupts Delay sleeps

	mu        sync.Mutex
	closed    bool
	inFlight  sync.WaitGroup // Data calls in progress; Close waits for them
	transfers int
	mails     int
	accepted  []Message
	changed   chan struct{} // closed and replaced whenever a message is accepted
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background. It returns once the listener is open.
func Start(addr string, opts Options) (*Server, error) {
	if opts.Domain == "" {
		opts.Domain = "catcher.test"
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("create catcher dir: %w", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for smtp on %s: %w", addr, err)
	}

	s := &Server{
		opts:      opts,
		log:       log,
		ln:        ln,
		serveDone: make(chan error, 1),
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = true // dev and tests: no TLS, any credentials
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true // like postfix: clients then send RET, ENVID and NOTIFY
	// Long enough for any test or dev client, short enough that a stuck client does
	// not hold a goroutine forever.
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogAdapter{log}
	s.smtp = srv

	go func() { s.serveDone <- srv.Serve(ln) }()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Messages returns the accepted messages (answered 250), in order of acceptance.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.accepted)
}

// Wait blocks until at least n messages were accepted and returns all of them, or
// returns ctx's error with those accepted so far.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.accepted) >= n {
			msgs := cloneMessages(s.accepted)
			s.mu.Unlock()
			return msgs, nil
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("wait for %d smtp messages: %w", n, ctx.Err())
		}
	}
}

// Close stops listening, closes every connection, interrupts delayed replies and waits
// for message handling to finish, so no message is accepted after Close returns.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	close(s.done)
	err := s.smtp.Close()
	// go-smtp only closes listeners that Serve has registered; if Close comes before the
	// serving goroutine got that far, Serve would accept forever. Closing it here too
	// ends Serve either way (a second close just reports an error we do not need).
	_ = s.ln.Close()
	s.inFlight.Wait()
	if serveErr := <-s.serveDone; serveErr != nil && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("close smtp catcher: %w", err)
	}
	return nil
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

// beginData registers a data transfer and returns its number, or false when closed.
func (s *Server) beginData() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, false
	}
	s.inFlight.Add(1)
	s.transfers++
	return s.transfers, true
}

// accept stores m as accepted and returns the reply text with its queue ID.
func (s *Server) accept(n int, m Message) error {
	if s.opts.Dir != "" {
		name := filepath.Join(s.opts.Dir, fmt.Sprintf("%d-%d.eml", m.Received.UnixNano(), n))
		// 0600: invoices carry personal and commercial data.
		if err := os.WriteFile(name, m.Data, 0o600); err != nil {
			s.log.Error("catcher cannot store message", "file", name, "error", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot store message"}
		}
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	from string
	to   []string
	// DSN parameters of the current transaction.
	mailOpts *smtp.MailOptions
	rcptOpts *smtp.RcptOptions
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	// A catcher takes whatever credentials a dev config carries.
	return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.from = from
	ss.mailOpts = opts
	s := ss.srv
	if s.opts.MailDelay != nil {
		s.mu.Lock()
		s.mails++
		n := s.mails
		s.mu.Unlock()
		if d := s.opts.MailDelay(n); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
			}
		}
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	ss.rcptOpts = opts
	return nil
}

func (ss *session) Data(r io.Reader) error {
	s := ss.srv
	n, ok := s.beginData()
	if !ok {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Catcher shutting down"}
	}
	defer s.inFlight.Done()

	data, err := io.ReadAll(r)
	if err != nil {
		// Too large (go-smtp's 552) or a broken connection: go-smtp answers either way.
		return err
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, Received: time.Now()}
	if ss.mailOpts != nil {
		m.Ret, m.EnvID = string(ss.mailOpts.Return), ss.mailOpts.EnvelopeID
	}
	if ss.rcptOpts != nil {
		for _, n := range ss.rcptOpts.Notify {
			m.Notify = append(m.Notify, string(n))
		}
	}

	var out Outcome
	if s.opts.Reply != nil {
		out = s.opts.Reply(n, cloneMessage(m))
	}
	if out.Delay > 0 {
		t := time.NewTimer(out.Delay)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Catcher shutting down"}
		}
	}
	if out.Drop {
		// Closing the socket under go-smtp makes its reply write fail silently and its
		// read loop end: the client sees the connection end without a reply.
		s.log.Info("catcher dropped connection after data", "transfer", n, "from", m.From, "to", m.To)
		_ = ss.conn.Conn().Close()
		return errors.New("connection dropped on purpose")
	}
	if out.Code >= 300 || (out.Code != 0 && out.Code < 200) {
		s.log.Info("catcher rejected message", "transfer", n, "code", out.Code)
		return rejection(out)
	}

	if err := s.accept(n, m); err != nil {
		return err
	}
	id := queueID()
	s.log.Info("catcher accepted message", "transfer", n, "queue_id", id, "from", m.From, "to", m.To, "bytes", len(m.Data))
	text := out.Text
	if text == "" {
		text = "Ok: queued as " + id
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: text}
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
	ss.mailOpts, ss.rcptOpts = nil, nil
}

func (ss *session) Logout() error { return nil }

func rejection(out Outcome) *smtp.SMTPError {
	enh := smtp.EnhancedCode(out.Enhanced)
	if out.Enhanced == [3]int{} {
		enh = smtp.EnhancedCode{out.Code / 100, 0, 0}
	}
	text := out.Text
	if text == "" {
		text = "Rejected by catcher"
	}
	return &smtp.SMTPError{Code: out.Code, EnhancedCode: enh, Message: text}
}

// queueID looks like a postfix queue ID: 10 upper-case hex digits.
func queueID() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return strings.ToUpper(fmt.Sprintf("%x", b[:]))
}

func cloneMessage(m Message) Message {
	m.To = append([]string(nil), m.To...)
	m.Data = append([]byte(nil), m.Data...)
	return m
}

func cloneMessages(ms []Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = cloneMessage(m)
	}
	return out
}

// slogAdapter routes go-smtp's internal error log to slog.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Warn("smtp catcher error", "detail", fmt.Sprintf(format, v...))
}

func (a slogAdapter) Println(v ...any) {
	a.log.Warn("smtp catcher error", "detail", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// TB is the part of testing.TB that MustStart uses; it keeps package testing out of
// the dev binary.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// MustStart starts a catcher on a free loopback port for one test and closes it when
// the test ends.
func MustStart(t TB, opts Options) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("start smtp catcher: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Fatalf("close smtp catcher: %v", err)
		}
	})
	return s
}
