package mailer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// relay is a small go-smtp server for what the catcher deliberately does not do: TLS,
// checked credentials, and rejections at RCPT time.
type relay struct {
	addr string

	mu    sync.Mutex
	auths []string // user names that authenticated
	data  int      // messages accepted
}

type relayOptions struct {
	implicitTLS bool   // serve TLS from the first byte (smtps)
	startTLS    bool   // offer STARTTLS
	username    string // required credentials, if set
	password    string
	rcptErr     *smtp.SMTPError // reply to every RCPT, if set
	closeOnRcpt bool            // close the connection right after replying to RCPT
}

func startRelay(t *testing.T, opts relayOptions) *relay {
	t.Helper()
	r := &relay{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r, opts: opts, conn: c}, nil
	}))
	srv.Domain = "relay.test"
	srv.ErrorLog = discardLogger{}
	var ln net.Listener
	var err error
	if opts.implicitTLS || opts.startTLS {
		srv.TLSConfig = selfSignedTLS(t)
	}
	if opts.implicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
		srv.TLSConfig = nil // already TLS: do not also offer STARTTLS
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *relay) counts() (auths []string, data int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auths...), r.data
}

type relaySession struct {
	r    *relay
	opts relayOptions
	conn *smtp.Conn
}

func (s *relaySession) AuthMechanisms() []string {
	if s.opts.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.opts.username || pass != s.opts.password {
			return smtp.ErrAuthFailed
		}
		s.r.mu.Lock()
		s.r.auths = append(s.r.auths, user)
		s.r.mu.Unlock()
		return nil
	}), nil
}

func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *relaySession) Rcpt(string, *smtp.RcptOptions) error {
	if s.opts.rcptErr == nil {
		return nil
	}
	if s.opts.closeOnRcpt {
		// Reply first, then hang up, as a relay answering 421 does.
		go func() {
			time.Sleep(50 * time.Millisecond)
			_ = s.conn.Conn().Close()
		}()
	}
	return s.opts.rcptErr
}

func (s *relaySession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.data++
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        {}
func (s *relaySession) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
