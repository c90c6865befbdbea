package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Envelope is the SMTP transaction a message came in.
type Envelope struct {
	MailFrom   string // usually empty: reports are sent with the null sender
	RcptTo     string // one bounce address
	RemoteAddr string
}

// Handler takes one received report for one recipient. An error makes the listener
// answer 451 so that the sending server keeps the report and tries again; the
// handler returns nil for everything it kept, readable or not.
type Handler interface {
	HandleReport(ctx context.Context, env Envelope, raw []byte) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, env Envelope, raw []byte) error

func (f HandlerFunc) HandleReport(ctx context.Context, env Envelope, raw []byte) error {
	return f(ctx, env, raw)
}

// Config tunes a Server.
type Config struct {
	Addr         string // listen address, e.g. "127.0.0.1:2525" ("…:0" picks a port)
	Domain       string // the bounce domain: the only recipient domain accepted
	Hostname     string // announced in the greeting; default Domain
	MaxBytes     int64  // largest message accepted; default 10 MiB (reports are small)
	Timeout      time.Duration
	HandlerLimit time.Duration // how long one message's handling may take; default 30s
}

// Server is a running listener. Close it when done.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	smtp    *smtp.Server
	ln      net.Listener
	served  chan error

	mu       sync.Mutex
	closed   bool
	inFlight sync.WaitGroup
}

// Start listens on cfg.Addr and serves in the background.
func Start(cfg Config, h Handler, log *slog.Logger) (*Server, error) {
	if cfg.Domain == "" {
		return nil, errors.New("inbound smtp: a bounce domain is required")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Domain
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.Timeout <= 0 {
		// Short: a report is a few kilobytes, and a slow client holds a goroutine.
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HandlerLimit <= 0 {
		cfg.HandlerLimit = 30 * time.Second
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("inbound smtp: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, handler: h, log: log, ln: ln, served: make(chan error, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, remote: c.Conn().RemoteAddr().String()}, nil
	}))
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = 10
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	// postfix sends DSNs about SMTPUTF8 messages with SMTPUTF8 itself.
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{log}
	s.smtp = srv
	go func() { s.served <- srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes connections and waits for messages being handled.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.smtp.Close()
	_ = s.ln.Close() // Serve may not have registered the listener yet
	s.inFlight.Wait()
	<-s.served
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("inbound smtp: close: %w", err)
	}
	return nil
}

func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inFlight.Add(1)
	return true
}

// acceptsRecipient reports whether addr is in the bounce domain. Malformed tokens
// in the right domain are accepted and kept as unknown: refusing them would bounce
// the report back to a null sender and lose it.
func (s *Server) acceptsRecipient(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	return at > 0 && strings.EqualFold(addr[at+1:], s.cfg.Domain)
}

type session struct {
	srv    *Server
	remote string
	from   string
	rcpts  []string
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.srv.acceptsRecipient(to) {
		// Not an open relay, and not a mailbox: only bounce addresses live here.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such recipient here"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	s := ss.srv
	if !s.begin() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down, try later"}
	}
	defer s.inFlight.Done()
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // too large (go-smtp answers 552) or the connection broke
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandlerLimit)
	defer cancel()
	for _, rcpt := range ss.rcpts {
		env := Envelope{MailFrom: ss.from, RcptTo: rcpt, RemoteAddr: ss.remote}
		if err := s.handler.HandleReport(ctx, env, raw); err != nil {
			s.log.ErrorContext(ctx, "delivery report not kept, asking the sender to retry", "rcpt", rcpt, "err", err)
			// Recipients handled before this one are de-duplicated when the whole
			// message comes again.
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Report not stored, try again later"}
		}
	}
	return nil
}

// errorLog routes go-smtp's connection errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("inbound smtp", "msg", fmt.Sprintf(format, v...))
}
func (l errorLog) Println(v ...any) { l.log.Warn("inbound smtp", "msg", fmt.Sprint(v...)) }
