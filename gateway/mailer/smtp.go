package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/invoicegw/invoicegw/gateway"
)

// stage is how far one SMTP transaction got; it decides whether a failure could have
// left a message at the server.
type stage int

const (
	stageConnect stage = iota // dial, greeting, EHLO, STARTTLS, AUTH
	stageMail
	stageRcpt
	stageData  // the DATA command itself
	stageBody  // writing the message bytes
	stageReply // final "." written (or being flushed), waiting for the reply
)

// conn is one SMTP session: the client and the socket beneath it.
type conn struct {
	c      *smtp.Client
	raw    net.Conn
	addr   string // host:port dialled
	ip     string
	tlsVer string
	used   time.Time
}

func (s *conn) close() {
	_ = s.c.Close()
	_ = s.raw.Close()
}

// sessionOptions say how to open a session.
type sessionOptions struct {
	addr       string
	serverName string // for TLS
	helo       string
	timeout    time.Duration
	tls        TLSMode
	tlsConfig  *tls.Config
	username   string
	password   string
}

// dialSession connects, greets, upgrades to TLS per the mode and authenticates.
// Failures are at stageConnect: they blame the server or our set-up, never the
// message, so they are always temporary.
func dialSession(ctx context.Context, o sessionOptions) (*conn, error) {
	s, err := openSession(ctx, o, o.tls)
	if err != nil && o.tls == TLSOpportunistic && errors.Is(err, errNoStartTLS) {
		// go-smtp can only upgrade a fresh session, so a server without STARTTLS costs
		// one more connection here; pooled sessions make that rare.
		s, err = openSession(ctx, o, TLSNone)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, err
	}
	return s, nil
}

var errNoStartTLS = errors.New("does not support STARTTLS")

func openSession(ctx context.Context, o sessionOptions, mode TLSMode) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.addr, err)
	}
	stop := context.AfterFunc(dctx, func() { _ = raw.Close() })
	defer stop()
	var nc net.Conn = &idleConn{Conn: raw, timeout: o.timeout}
	var c *smtp.Client
	switch mode {
	case TLSImplicit:
		tc := tls.Client(nc, o.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", o.addr, err)
		}
		c = smtp.NewClient(tc)
	case TLSRequired, TLSOpportunistic:
		c, err = smtp.NewClientStartTLS(nc, o.tlsConfig)
		if err != nil {
			_ = raw.Close()
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return nil, fmt.Errorf("smtp server %s %w, which the tls mode %s asks for", o.addr, errNoStartTLS, mode)
			}
			return nil, fmt.Errorf("starttls with %s: %w", o.addr, err)
		}
	default:
		c = smtp.NewClient(nc)
	}
	c.CommandTimeout = o.timeout
	c.SubmissionTimeout = o.timeout
	s := &conn{c: c, raw: raw, addr: o.addr}
	if host, _, err := net.SplitHostPort(raw.RemoteAddr().String()); err == nil {
		s.ip = host
	}
	fail := func(err error) (*conn, error) {
		s.close()
		return nil, err
	}
	// Hello reads the greeting (when not done yet) and runs EHLO with our name.
	if err := c.Hello(o.helo); err != nil {
		return fail(fmt.Errorf("smtp session with %s: %w", o.addr, err))
	}
	if st, ok := c.TLSConnectionState(); ok {
		s.tlsVer = tls.VersionName(st.Version)
	}
	if o.username != "" {
		if s.tlsVer == "" {
			// Never put a password on the wire in the clear.
			return fail(fmt.Errorf("smtp server %s: refusing to authenticate over an unencrypted connection", o.addr))
		}
		var a sasl.Client
		switch {
		case c.SupportsAuth("PLAIN"):
			a = sasl.NewPlainClient("", o.username, o.password)
		case c.SupportsAuth("LOGIN"):
			a = sasl.NewLoginClient(o.username, o.password)
		default:
			return fail(fmt.Errorf("smtp server %s offers neither AUTH PLAIN nor LOGIN", o.addr))
		}
		if err := c.Auth(a); err != nil {
			return fail(fmt.Errorf("authenticate to %s: %w", o.addr, err))
		}
	}
	s.used = time.Now()
	return s, nil
}

// transact runs one mail transaction on an open session: MAIL with RET=HDRS and
// ENVID, RCPT with NOTIFY=SUCCESS,FAILURE,DELAY and ORCPT (where the server offers
// DSN), DATA, the exact bytes, and the reply. It returns the reply text to the data
// ("2.0.0 Ok: queued as ...") or the stage it failed in.
func (s *conn) transact(ctx context.Context, env gateway.Envelope, msg []byte) (string, stage, error) {
	// Ending ctx closes the socket, which interrupts any blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = s.raw.Close() })
	defer stop()
	s.used = time.Now()
	err := s.c.Mail(env.From, &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: env.EnvID, Size: int64(len(msg))})
	if err != nil {
		return "", stageMail, err
	}
	err = s.c.Rcpt(env.To, &smtp.RcptOptions{
		Notify:                []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed},
		OriginalRecipient:     env.To,
		OriginalRecipientType: smtp.DSNAddressTypeRFC822,
	})
	if err != nil {
		return "", stageRcpt, err
	}
	w, err := s.c.Data()
	if err != nil {
		return "", stageData, err
	}
	if _, err := w.Write(msg); err != nil {
		return "", stageBody, err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", stageReply, err
	}
	return resp.StatusText, stageReply, nil
}

// classify turns a failed transaction into a SendError.
//   - A reply from the server (an *smtp.SMTPError) is a definite answer: nothing was
//     taken, so PhaseBeforeData; permanent when 5xx in the transaction, temporary
//     when it came during connection set-up (it blames the relay or our credentials).
//   - No reply once the final "." may have left: PhaseAfterData (RFC 5321 §3.8).
//   - Anything else happened before data and is temporary.
func classify(err error, st stage) *gateway.SendError {
	serr := &gateway.SendError{Phase: gateway.PhaseBeforeData, Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		serr.Reply = formatReply(se)
		serr.Permanent = se.Code >= 500 && st >= stageMail
		return serr
	}
	if st == stageReply {
		serr.Phase = gateway.PhaseAfterData
	}
	if st == stageMail && strings.HasPrefix(err.Error(), "smtp: Malformed") {
		serr.Permanent = true
	}
	return serr
}

// formatReply renders a reply as the server sent it, "451 4.3.0 Try again later".
func formatReply(e *smtp.SMTPError) string {
	if e.EnhancedCode == smtp.NoEnhancedCode || e.EnhancedCode == (smtp.EnhancedCode{}) {
		return fmt.Sprintf("%03d %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%03d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

// envelopeFor is the envelope of a composed Mail (Send's convenience path).
func envelopeFor(m gateway.Mail) gateway.Envelope {
	from := m.EnvelopeFrom
	if from == "" {
		from = m.From.Email
	}
	return gateway.Envelope{From: from, To: m.To.Email}
}
