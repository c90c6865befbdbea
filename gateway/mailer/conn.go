package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// dialer opens the one TCP connection of one Send. It exists because go-mail's
// DialAndSendWithContext uses its context only for the TCP dial: after that, neither
// cancellation nor the caller's deadline reaches the conversation, and go-mail leaves
// the connection open when EHLO, STARTTLS or AUTH fail. The dialer ties the socket to
// the Send's context, refreshes an idle deadline on every read and write, and lets Send
// close the socket whatever go-mail did.
type dialer struct {
	sendCtx   context.Context // closing the socket when it ends interrupts any blocked I/O
	timeout   time.Duration
	tlsConfig *tls.Config // non-nil for implicit TLS

	mu   sync.Mutex
	raw  net.Conn
	stop func() bool
}

// dial satisfies mail.DialContextFunc. ctx is go-mail's dial context (the Send's
// context with the connect timeout), used for the TCP and TLS handshakes.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.raw = raw
	d.stop = context.AfterFunc(d.sendCtx, func() { _ = raw.Close() })
	d.mu.Unlock()

	conn := net.Conn(&idleConn{Conn: raw, timeout: d.timeout})
	if d.tlsConfig == nil {
		return conn, nil
	}
	// Return the *tls.Conn itself, unwrapped: go-mail's SMTP client only treats the
	// session as encrypted (and only then offers PLAIN/LOGIN auth) when the conn it
	// gets is a *tls.Conn.
	tc := tls.Client(conn, d.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// close releases the socket and the context hook; safe to call when dial never ran.
func (d *dialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop != nil {
		d.stop()
	}
	if d.raw != nil {
		_ = d.raw.Close()
	}
}

// idleConn gives every read and write its own deadline, so Config.Timeout limits how
// long the relay may stay silent rather than how long the whole message may take.
// go-mail sets deadlines only once per phase (setup, then the whole transaction).
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
