package mailer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how the connection to the relay is encrypted.
type TLSMode string

const (
	// TLSNone never encrypts, even if the relay offers STARTTLS. For loopback relays only.
	TLSNone TLSMode = "none"
	// TLSOpportunistic uses STARTTLS when the relay offers it and plaintext otherwise.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSRequired insists on STARTTLS and fails when the relay does not offer it.
	TLSRequired TLSMode = "required"
	// TLSImplicit speaks TLS from the first byte (smtps, usually port 465).
	TLSImplicit TLSMode = "implicit"
)

// DefaultTimeout bounds each network read or write when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Default ports of the two URL schemes.
const (
	DefaultPortSubmission = 587 // smtp:// with STARTTLS
	DefaultPortSMTPS      = 465 // smtps://
)

// Config says which relay to use and how. Its String and LogValue never show the password.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      TLSMode
	// HELO is the name announced in EHLO; empty means the machine's host name.
	HELO string
	// Timeout bounds the dial and every single network read or write (an idle timeout,
	// so a large attachment on a slow link is not cut off while bytes still move).
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// InsecureSkipVerify accepts any relay certificate. Only for tests against
	// self-signed servers.
	InsecureSkipVerify bool
	// PoolSize is how many idle sessions to the relay are kept for reuse; zero means
	// DefaultPoolSize.
	PoolSize int
	// Rate caps messages per second handed to the relay; zero means no cap.
	Rate float64
}

// Addr is the relay's host:port.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// String describes the config for operators, with the password redacted.
func (c Config) String() string {
	user := ""
	if c.Username != "" {
		user = c.Username
		if c.Password != "" {
			user += ":REDACTED"
		}
		user += "@"
	}
	return fmt.Sprintf("%s%s tls=%s", user, c.Addr(), c.TLS)
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("tls", string(c.TLS)),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.Duration("timeout", c.Timeout),
	)
}

// Validate reports the first thing that would keep the config from working, in words
// an operator understands. cmd/invoicegw calls it at start-up so that a bad config
// fails there instead of at the first send.
func (c Config) Validate() error {
	if c.Host == "" {
		return errors.New("smtp relay host is empty")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("smtp relay port %d is not between 1 and 65535", c.Port)
	}
	switch c.TLS {
	case TLSNone, TLSOpportunistic, TLSRequired, TLSImplicit:
	default:
		return fmt.Errorf("smtp tls mode %q is unknown (want none, opportunistic, required or implicit)", c.TLS)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("smtp timeout %s is negative", c.Timeout)
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("smtp password is set but the user name is empty")
	}
	return nil
}

// ParseURL parses an SMTP relay URL such as INVOICEGW_SMTP_URL:
//
//	smtp://user:password@host:port   STARTTLS required (default port 587);
//	                                 ?starttls=none|opportunistic|required overrides it
//	smtps://user:password@host:port  TLS from the first byte (default port 465)
//
// The user name and password must be percent-encoded when they contain reserved
// characters (/ ? # @ :). Errors never contain the password. The returned Config has
// a zero Timeout, which New turns into DefaultTimeout.
func ParseURL(raw string) (Config, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Config{}, errors.New("smtp url is empty (want smtp://user:password@host:587 or smtps://user:password@host:465)")
	}
	if !strings.Contains(raw, "://") {
		return Config{}, errors.New("smtp url must start with smtp:// or smtps://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, parseURLError(raw)
	}
	// An "@" that did not end up separating the user info means that the password held
	// a reserved character and the rest of it landed in the path, query or fragment.
	// Anything we said about those parts could echo the password, so stop here.
	if _, rest, ok := strings.Cut(raw, "://"); ok && strings.Contains(rest, "@") && u.User == nil {
		return Config{}, errUserinfoEncoding
	}

	var cfg Config
	switch u.Scheme {
	case "smtp":
		cfg.TLS, cfg.Port = TLSRequired, DefaultPortSubmission
	case "smtps":
		cfg.TLS, cfg.Port = TLSImplicit, DefaultPortSMTPS
	default:
		return Config{}, fmt.Errorf("smtp url scheme %q is not supported (want smtp or smtps)", u.Scheme)
	}

	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return Config{}, fmt.Errorf("smtp url has no host (want %s://host:%d)", u.Scheme, cfg.Port)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("smtp url port %q is not a number between 1 and 65535", p)
		}
		cfg.Port = n
	}
	if u.Path != "" && u.Path != "/" {
		return Config{}, fmt.Errorf("smtp url must not have a path, got %q", u.Path)
	}
	if u.Fragment != "" {
		return Config{}, errors.New("smtp url must not have a #fragment (percent-encode # in a password as %23)")
	}

	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Username == "" && cfg.Password != "" {
			return Config{}, errors.New("smtp url has a password but no user name")
		}
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("smtp url query is malformed: %w", err)
	}
	for key, values := range q {
		if key != "starttls" {
			return Config{}, fmt.Errorf("smtp url parameter %q is unknown (the only one is starttls)", key)
		}
		if u.Scheme == "smtps" {
			return Config{}, errors.New("smtp url parameter starttls does not apply to smtps, which uses TLS from the first byte")
		}
		if len(values) != 1 {
			return Config{}, errors.New("smtp url parameter starttls is given more than once")
		}
		switch mode := TLSMode(values[0]); mode {
		case TLSNone, TLSOpportunistic, TLSRequired:
			cfg.TLS = mode
		default:
			return Config{}, fmt.Errorf("smtp url starttls=%q is not one of none, opportunistic, required", values[0])
		}
	}
	return cfg, nil
}

var errUserinfoEncoding = errors.New("smtp url user name or password contains reserved characters: " +
	"percent-encode them (/ as %2F, ? as %3F, # as %23, @ as %40, : in the user name as %3A)")

// parseURLError explains why raw does not parse without quoting its user info: url.Parse's
// own error repeats the whole URL, password included.
func parseURLError(raw string) error {
	redacted := raw
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			redacted = scheme + "://REDACTED@" + rest[at+1:]
		}
	}
	_, err := url.Parse(redacted)
	if err == nil {
		// Only the user info was at fault.
		return errUserinfoEncoding
	}
	var uerr *url.Error
	if (redacted == raw && strings.Contains(raw, "@")) || !errors.As(err, &uerr) {
		// User info we could not cut out might still hide in err; say less rather than leak it.
		return errors.New("smtp url is not a valid URL (want smtp://user:password@host:587; percent-encode reserved characters)")
	}
	// uerr.Err describes the redacted URL, so it cannot contain the password.
	return fmt.Errorf("smtp url is not a valid URL: %w", uerr.Err)
}
