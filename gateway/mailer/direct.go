package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/invoicegw/invoicegw/gateway"
)

// DirectConfig configures the "direct" transport.
type DirectConfig struct {
	// Resolver is the DNS server (host:port) asked for MX and A records.
	Resolver string
	// Port is the port of every MX; 25 in production, a loopback port in tests.
	Port int
	// HELO is the name announced in EHLO; empty means the machine's host name.
	HELO string
	// Timeout bounds the dial, every read and write, and each DNS query.
	Timeout time.Duration
}

// Direct delivers to the recipient domain's own mail servers: MX records in
// preference order (the domain itself when it has none, RFC 5321 §5.1), STARTTLS
// when offered (opportunistic, unauthenticated: RFC 7435), one session per message.
// The 250 it gets is the recipient server's own word, which is delivery evidence.
type Direct struct {
	cfg DirectConfig
	log *slog.Logger
}

var _ gateway.Mailer = (*Direct)(nil)

// NewDirect returns the direct transport. A zero Port is 25, a zero Timeout
// DefaultTimeout. log may be nil.
func NewDirect(cfg DirectConfig, log *slog.Logger) (*Direct, error) {
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HELO == "" {
		cfg.HELO = hostname()
	}
	if _, _, err := net.SplitHostPort(cfg.Resolver); err != nil {
		return nil, fmt.Errorf("dns resolver %q must be host:port: %w", cfg.Resolver, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Direct{cfg: cfg, log: log}, nil
}

// Transmit looks up the recipient domain's MX hosts and tries them in preference
// order until one gives a definite answer. A 4xx or a network failure before the
// data moves on to the next host; a 5xx, a 250, or a failure after the data ends the
// attempt. Errors are *gateway.SendError as for Sender.Transmit.
func (d *Direct) Transmit(ctx context.Context, env gateway.Envelope, msg []byte) (gateway.SendResult, error) {
	at := strings.LastIndex(env.To, "@")
	if at < 0 {
		return gateway.SendResult{}, &gateway.SendError{Permanent: true, Err: fmt.Errorf("recipient %q has no domain", env.To)}
	}
	domain := strings.ToLower(env.To[at+1:])
	hosts, err := d.mxHosts(ctx, domain)
	if err != nil {
		return gateway.SendResult{}, err
	}
	var last *gateway.SendError
	for _, host := range hosts {
		ips, err := d.lookupA(ctx, host)
		if err != nil || len(ips) == 0 {
			last = &gateway.SendError{Err: fmt.Errorf("mx %s of %s: no address: %w", host, domain, err)}
			continue
		}
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(d.cfg.Port))
			res, serr := d.try(ctx, host, addr, env, msg)
			if serr == nil {
				return res, nil
			}
			last = serr
			if serr.Permanent || serr.Phase == gateway.PhaseAfterData || ctx.Err() != nil {
				return gateway.SendResult{}, serr
			}
			d.log.DebugContext(ctx, "mx failed, trying the next", "mx", host, "addr", addr, "err", serr)
		}
	}
	if last == nil {
		last = &gateway.SendError{Err: fmt.Errorf("no mail server for %s", domain)}
	}
	return gateway.SendResult{}, last
}

func (d *Direct) try(ctx context.Context, host, addr string, env gateway.Envelope, msg []byte) (gateway.SendResult, *gateway.SendError) {
	sess, err := dialSession(ctx, sessionOptions{
		addr: addr, serverName: host, helo: d.cfg.HELO, timeout: d.cfg.Timeout, tls: TLSOpportunistic,
		// Opportunistic TLS between MTAs does not authenticate the server (RFC 7435):
		// encryption against passive listeners, no failure on self-signed certificates.
		tlsConfig: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, //nolint:gosec // see above
	})
	if err != nil {
		serr := classify(err, stageConnect)
		serr.Err = fmt.Errorf("send to mx %s (%s): %w", host, addr, err)
		return gateway.SendResult{}, serr
	}
	defer sess.close()
	reply, st, err := sess.transact(ctx, env, msg)
	if err != nil {
		serr := classify(err, st)
		serr.Err = fmt.Errorf("send to mx %s (%s): %w", host, addr, err)
		return gateway.SendResult{}, serr
	}
	_ = sess.c.Quit()
	return gateway.SendResult{Reply: reply, Relay: addr, Direct: true, MXHost: host, MXIP: sess.ip, TLSVersion: sess.tlsVer}, nil
}

// mxHosts returns the domain's mail servers in preference order.
func (d *Direct) mxHosts(ctx context.Context, domain string) ([]string, error) {
	in, err := d.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, &gateway.SendError{Err: fmt.Errorf("look up mx of %s: %w", domain, err)}
	}
	if in.Rcode == dns.RcodeNameError {
		return nil, &gateway.SendError{Permanent: true, Reply: "", Err: fmt.Errorf("recipient domain %s does not exist (NXDOMAIN)", domain)}
	}
	var mxs []*dns.MX
	for _, rr := range in.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	if len(mxs) == 0 {
		return []string{domain}, nil // implicit MX
	}
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return nil, &gateway.SendError{Permanent: true, Err: fmt.Errorf("domain %s accepts no mail (null MX, RFC 7505)", domain)}
	}
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	hosts := make([]string, len(mxs))
	for i, mx := range mxs {
		hosts[i] = strings.TrimSuffix(mx.Mx, ".")
	}
	return hosts, nil
}

func (d *Direct) lookupA(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, nil
	}
	in, err := d.query(ctx, host, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("no A record")
	}
	return ips, nil
}

func (d *Direct) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: d.cfg.Timeout}
	in, _, err := c.ExchangeContext(ctx, m, d.cfg.Resolver)
	if err != nil {
		return nil, err
	}
	if in.Truncated {
		c.Net = "tcp"
		if in, _, err = c.ExchangeContext(ctx, m, d.cfg.Resolver); err != nil {
			return nil, err
		}
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("dns answered %s", dns.RcodeToString[in.Rcode])
	}
	return in, nil
}
