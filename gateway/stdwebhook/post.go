package stdwebhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Result is what an endpoint answered.
type Result struct {
	StatusCode int
	Body       string // the first KiB of the answer, for the delivery log
	Duration   time.Duration
}

// Poster sends signed webhooks over HTTP. Redirects are not followed: a webhook
// endpoint that redirects is misconfigured, and following it would send signed
// data somewhere the tenant did not register.
type Poster struct {
	client *http.Client
}

// NewPoster returns a poster whose requests give up after timeout. Unless
// allowPrivate, it refuses to connect to loopback, private, link-local and other
// non-public addresses: endpoint URLs come from tenants, and a webhook must not
// become a way to reach the gateway's own network (checked on the address actually
// dialled, so DNS tricks do not get around it).
func NewPoster(timeout time.Duration, allowPrivate bool) *Poster {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(ip.Unmap()) {
				return fmt.Errorf("%w: %s", ErrPrivateAddress, host)
			}
			return nil
		}
	}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Poster{client: &http.Client{
		Timeout:       timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// ErrPrivateAddress is a webhook URL resolving to a non-public address.
var ErrPrivateAddress = errors.New("webhook endpoint resolves to a non-public address")

// sharedAddressSpace is RFC 6598 carrier-grade NAT, which netip does not count as private.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

func publicAddr(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !sharedAddressSpace.Contains(ip)
}

// Post sends body to url with the Standard Webhooks headers. An error means no
// HTTP answer was received (connection refused, timeout).
func (p *Poster) Post(ctx context.Context, url, secret, id string, ts time.Time, body []byte) (Result, error) {
	h, err := Headers(secret, id, ts, body)
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "invoicegw-webhooks/1")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		var uerr interface{ Timeout() bool }
		if errors.As(err, &uerr) && uerr.Timeout() {
			return Result{Duration: time.Since(start)}, fmt.Errorf("post webhook: timed out: %w", err)
		}
		return Result{Duration: time.Since(start)}, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	return Result{StatusCode: resp.StatusCode, Body: string(b), Duration: time.Since(start)}, nil
}
