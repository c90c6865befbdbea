package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/invoicegw/invoicegw/gateway"
)

// Relay defaults.
const (
	DefaultPoolSize = 4               // idle sessions kept open to the relay
	poolIdleMax     = 2 * time.Minute // a session idle longer is closed, not reused
)

// Sender hands messages to one SMTP relay (the "relay" transport). It keeps up to
// Config.PoolSize idle sessions open and reuses them (one MAIL transaction after the
// other, RFC 5321 §3.3), and spaces transactions by Config.Rate. It is safe for
// concurrent use; Close it when done.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	limiter *rate.Limiter

	mu   sync.Mutex
	idle []*conn
}

var _ gateway.Mailer = (*Sender)(nil)

// New returns a Sender for cfg. A zero Timeout becomes DefaultTimeout, an empty TLS
// mode TLSRequired and a zero PoolSize DefaultPoolSize; other mistakes surface from
// cfg.Validate, which Transmit also runs. log may be nil.
func New(cfg Config, log *slog.Logger) *Sender {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSRequired
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.HELO == "" {
		cfg.HELO = hostname()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := rate.Inf
	if cfg.Rate > 0 {
		limit = rate.Limit(cfg.Rate)
	}
	return &Sender{cfg: cfg, log: log, limiter: rate.NewLimiter(limit, max(1, int(cfg.Rate)))}
}

// Send composes m (unsigned) and transmits it; for callers without an archive, such
// as tests and the CLI's test mail.
func (s *Sender) Send(ctx context.Context, m gateway.Mail) (gateway.SendResult, error) {
	raw, err := Builder{}.BuildMessage(m)
	if err != nil {
		// Sending the same malformed message again cannot succeed.
		return gateway.SendResult{}, &gateway.SendError{Permanent: true, Phase: gateway.PhaseBeforeData, Err: err}
	}
	env := envelopeFor(m)
	env.EnvID = m.MessageID
	return s.Transmit(ctx, env, raw)
}

// Transmit hands msg to the relay. Errors are *gateway.SendError:
//   - Permanent for a 5xx reply to MAIL, RCPT, DATA or the data; a 5xx during
//     connection set-up (greeting, EHLO, STARTTLS, AUTH) is temporary: it blames the
//     relay or our credentials, not this message.
//   - PhaseAfterData only when the final "." may have left and no reply was read
//     (connection broken, timeout, or ctx ended while waiting).
//   - Reply holds the relay's reply with its code, e.g. "451 4.3.0 Try again later".
func (s *Sender) Transmit(ctx context.Context, env gateway.Envelope, msg []byte) (gateway.SendResult, error) {
	relay := s.cfg.Addr()
	if err := s.cfg.Validate(); err != nil {
		return gateway.SendResult{}, &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: fmt.Errorf("smtp config: %w", err)}
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return gateway.SendResult{}, &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: fmt.Errorf("wait for the relay rate limit: %w", err)}
	}
	for try := 0; ; try++ {
		sess, reused, err := s.get(ctx)
		if err != nil {
			serr := classify(err, stageConnect)
			serr.Err = fmt.Errorf("send to %s: %w", relay, err)
			return gateway.SendResult{}, serr
		}
		reply, st, err := sess.transact(ctx, env, msg)
		if err == nil {
			s.put(sess)
			s.log.DebugContext(ctx, "smtp message accepted", "relay", relay, "reply", reply, "reused", reused)
			return gateway.SendResult{Reply: reply, Relay: relay}, nil
		}
		sess.close()
		serr := classify(err, st)
		// A pooled session the relay closed meanwhile fails at MAIL without a reply:
		// nothing was sent, so a fresh session may try at once.
		if reused && st == stageMail && serr.Reply == "" && try == 0 && ctx.Err() == nil {
			continue
		}
		serr.Err = fmt.Errorf("send to %s: %w", relay, err)
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			serr.Err = fmt.Errorf("%w: %w", ctxErr, serr.Err)
		}
		return gateway.SendResult{}, serr
	}
}

// get returns an idle session or opens a new one.
func (s *Sender) get(ctx context.Context) (*conn, bool, error) {
	s.mu.Lock()
	for len(s.idle) > 0 {
		sess := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(sess.used) < poolIdleMax {
			s.mu.Unlock()
			return sess, true, nil
		}
		sess.close()
	}
	s.mu.Unlock()
	sess, err := dialSession(ctx, sessionOptions{
		addr: s.cfg.Addr(), serverName: s.cfg.Host, helo: s.cfg.HELO, timeout: s.cfg.Timeout, tls: s.cfg.TLS,
		tlsConfig: &tls.Config{
			ServerName:         s.cfg.Host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: s.cfg.InsecureSkipVerify, //nolint:gosec // opt-in, for tests against self-signed relays
		},
		username: s.cfg.Username, password: s.cfg.Password,
	})
	return sess, false, err
}

// put keeps a healthy session for the next message, or closes it when the pool is full.
func (s *Sender) put(sess *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) < s.cfg.PoolSize {
		s.idle = append(s.idle, sess)
		return
	}
	go func() { _ = sess.c.Quit(); sess.close() }()
}

// Close says QUIT on the idle sessions.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, sess := range idle {
		_ = sess.c.Quit()
		sess.close()
	}
	return nil
}

func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
