package tracking

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

const (
	chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	googleProxy   = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)

func TestClassify(t *testing.T) {
	c, err := NewClassifier()
	if err != nil {
		t.Fatalf("NewClassifier() error = %v", err)
	}
	tests := []struct {
		name       string
		hit        Hit
		wantClass  Class
		wantReason string
	}{
		// People in browsers and desktop mail clients.
		{"counts Chrome on Windows as a person", Hit{Method: "GET", UserAgent: chromeWindows}, ClassHuman, "browser"},
		{"counts Chrome on macOS as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}, ClassHuman, "browser"},
		{"counts Chrome on Android as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"}, ClassHuman, "browser"},
		{"counts Edge as a person", Hit{Method: "GET", UserAgent: chromeWindows + " Edg/131.0.0.0"}, ClassHuman, "browser"},
		{"counts Firefox on Windows as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"}, ClassHuman, "browser"},
		{"counts Firefox on Linux as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, ClassHuman, "browser"},
		{"counts Safari on macOS as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"}, ClassHuman, "browser"},
		{"counts Safari on iPhone as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"}, ClassHuman, "browser"},
		{"counts Outlook desktop's renderer as a person", Hit{Method: "GET", UserAgent: "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"}, ClassHuman, "browser"},
		{"counts Outlook desktop as a person", Hit{Method: "GET", UserAgent: "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"}, ClassHuman, "browser"},
		{"counts Apple Mail without privacy protection as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"}, ClassHuman, "browser"},
		{"counts Thunderbird as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"}, ClassHuman, "browser"},
		{"counts an unknown method as a GET", Hit{UserAgent: chromeWindows}, ClassHuman, "browser"},
		{"counts a hit minutes after sending as a person", Hit{Method: "GET", UserAgent: chromeWindows, SinceSent: 7 * time.Minute}, ClassHuman, "browser"},
		{"counts a hit exactly 2s after sending as a person", Hit{Method: "GET", UserAgent: chromeWindows, SinceSent: 2 * time.Second}, ClassHuman, "browser"},
		{"ignores a negative time since sending (clock skew)", Hit{Method: "GET", UserAgent: chromeWindows, SinceSent: -time.Minute}, ClassHuman, "browser"},

		// Privacy proxies that fetch when a person opens the message.
		{"counts Gmail's image proxy as a person", Hit{Method: "GET", UserAgent: googleProxy, SinceSent: time.Hour}, ClassHuman, "google_image_proxy"},
		{"counts a bare ggpht.com proxy as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (via ggpht.com)"}, ClassHuman, "google_image_proxy"},
		{"counts Yahoo's proxy as a person", Hit{Method: "GET", UserAgent: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"}, ClassHuman, "yahoo_proxy"},

		// Prefetchers and scanners.
		{"flags Apple Mail Privacy Protection", Hit{Method: "GET", UserAgent: "Mozilla/5.0", SinceSent: time.Minute}, ClassMachine, "apple_mpp"},
		{"flags a HEAD request", Hit{Method: "HEAD", UserAgent: chromeWindows}, ClassMachine, "head_request"},
		{"flags a lower-case head request", Hit{Method: "head", UserAgent: chromeWindows}, ClassMachine, "head_request"},
		{"flags a HEAD request before the user agent", Hit{Method: "HEAD", UserAgent: "Mozilla/5.0"}, ClassMachine, "head_request"},
		{"flags Mimecast", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Mimecast URL Protect/1.0)"}, ClassMachine, "security_scanner"},
		{"flags Proofpoint", Hit{Method: "GET", UserAgent: "Proofpoint URL Defense/2.0"}, ClassMachine, "security_scanner"},
		{"flags Barracuda", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Barracuda Sentinel)"}, ClassMachine, "security_scanner"},
		{"flags Safe Links in any case", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Microsoft SafeLinks)"}, ClassMachine, "security_scanner"},
		{"flags BingPreview", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b"}, ClassMachine, "security_scanner"},
		{"flags Symantec", Hit{Method: "GET", UserAgent: "Symantec Click-time URL Protection"}, ClassMachine, "security_scanner"},
		{"flags Trend Micro", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Trend Micro Email Security)"}, ClassMachine, "security_scanner"},
		{"flags Zscaler", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Zscaler URL scanner)"}, ClassMachine, "security_scanner"},
		{"flags a scanner however late it comes", Hit{Method: "GET", UserAgent: "Proofpoint URL Defense/2.0", SinceSent: 24 * time.Hour}, ClassMachine, "security_scanner"},
		{"flags Office's link probe", Hit{Method: "GET", UserAgent: "Microsoft Office Existence Discovery"}, ClassMachine, "automated_client"},
		{"flags python-requests", Hit{Method: "GET", UserAgent: "python-requests/2.32.3"}, ClassMachine, "automated_client"},
		{"flags curl", Hit{Method: "GET", UserAgent: "curl/8.5.0"}, ClassMachine, "automated_client"},
		{"flags Go's HTTP client", Hit{Method: "GET", UserAgent: "Go-http-client/1.1"}, ClassMachine, "automated_client"},
		{"flags Wget", Hit{Method: "GET", UserAgent: "Wget/1.21.4"}, ClassMachine, "automated_client"},
		{"flags headless Chrome", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"}, ClassMachine, "automated_client"},
		{"flags a missing user agent", Hit{Method: "GET"}, ClassMachine, "automated_client"},
		{"flags a blank user agent", Hit{Method: "GET", UserAgent: "  "}, ClassMachine, "automated_client"},
		{"flags Slack unfurling a pasted link", Hit{Method: "GET", UserAgent: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}, ClassMachine, "link_preview"},

		// Timing.
		{"flags a browser hit within 2s of sending", Hit{Method: "GET", UserAgent: chromeWindows, SinceSent: 500 * time.Millisecond}, ClassMachine, "too_fast_after_delivery"},
		{"flags a proxy hit within 2s of sending", Hit{Method: "GET", UserAgent: googleProxy, SinceSent: time.Second}, ClassMachine, "too_fast_after_delivery"},
		{"keeps the scanner reason over timing", Hit{Method: "GET", UserAgent: "curl/8.5.0", SinceSent: time.Second}, ClassMachine, "automated_client"},

		// Published IP ranges: scanners detonate links in real browsers.
		{"flags a browser from Microsoft's Safe Links range", Hit{Method: "GET", UserAgent: chromeWindows + " Edg/131.0.0.0", IP: ip("40.93.12.7"), SinceSent: time.Hour}, ClassMachine, "security_scanner"},
		{"flags a browser from Exchange Online's IPv6 range", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("2a01:111:f400:7e1b::5"), SinceSent: time.Hour}, ClassMachine, "security_scanner"},
		{"flags a browser from Mimecast's range", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("205.139.110.61"), SinceSent: time.Hour}, ClassMachine, "security_scanner"},
		{"flags a browser from Proofpoint's range", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("148.163.150.20"), SinceSent: time.Hour}, ClassMachine, "security_scanner"},
		{"flags a browser from Barracuda's range", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("64.235.150.1"), SinceSent: time.Hour}, ClassMachine, "security_scanner"},
		{"flags a WebKit fetch from Apple's network", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", IP: ip("17.58.101.3"), SinceSent: time.Hour}, ClassMachine, "apple_mpp"},
		{"flags an IPv4-mapped address in a scanner range", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("::ffff:205.139.110.61")}, ClassMachine, "security_scanner"},
		{"counts a Google proxy address as a person", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", IP: ip("66.249.84.10"), SinceSent: time.Hour}, ClassHuman, "google_image_proxy"},
		{"counts a Yahoo proxy address as a person", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("98.137.10.1"), SinceSent: time.Hour}, ClassHuman, "yahoo_proxy"},
		{"counts a home address as a person", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("81.2.69.160"), SinceSent: time.Hour}, ClassHuman, "browser"},
		{"counts a home IPv6 address as a person", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("2001:db8:1::7"), SinceSent: time.Hour}, ClassHuman, "browser"},
		{"lets a scanner user agent win over a human range", Hit{Method: "GET", UserAgent: "Proofpoint URL Defense/2.0", IP: ip("66.249.84.10")}, ClassMachine, "security_scanner"},
		{"flags a Google proxy address within 2s of sending", Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("66.249.84.10"), SinceSent: time.Second}, ClassMachine, "too_fast_after_delivery"},

		// Prefetch, honeypot, every link at once.
		{"flags a declared prefetch", Hit{Method: "GET", UserAgent: chromeWindows, Prefetch: true, SinceSent: time.Hour}, ClassMachine, "prefetch"},
		{"flags a HEAD before a prefetch", Hit{Method: "HEAD", UserAgent: chromeWindows, Prefetch: true}, ClassMachine, "head_request"},
		{"flags the honeypot link whatever the client", Hit{Method: "GET", UserAgent: chromeWindows, Honeypot: true, SinceSent: time.Hour}, ClassMachine, "honeypot"},
		{"flags the honeypot over a scanner signature", Hit{Method: "GET", UserAgent: "Mimecast", Honeypot: true}, ClassMachine, "honeypot"},
		{"flags a link hit right after the honeypot", Hit{Method: "GET", UserAgent: chromeWindows, AllLinks: true, SinceSent: time.Hour}, ClassMachine, "all_links_at_once"},
		{"keeps the scanner reason over all links at once", Hit{Method: "GET", UserAgent: "Barracuda", AllLinks: true}, ClassMachine, "security_scanner"},
		{"flags a proxy hit with all links at once", Hit{Method: "GET", UserAgent: googleProxy, AllLinks: true, SinceSent: time.Hour}, ClassMachine, "all_links_at_once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, reason := c.Classify(tt.hit)
			if class != tt.wantClass || reason != tt.wantReason {
				t.Errorf("Classify(%+v) = %q, %q; want %q, %q", tt.hit, class, reason, tt.wantClass, tt.wantReason)
			}
		})
	}
}

func TestParseSignatures(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr string // empty: must parse
	}{
		{"parses a rule with spaces in the pattern", "contains machine security_scanner Trend Micro\n", ""},
		{"skips comments and blank lines", "# note\n\n   \nexact machine apple_mpp Mozilla/5.0\n", ""},
		{"rejects an unknown match", "regex machine x .*\n", "line 1: match"},
		{"rejects an unknown class", "\ncontains robot x curl\n", "line 2: class"},
		{"rejects an upper-case reason", "contains machine Scanner curl\n", "line 1: reason"},
		{"rejects a missing pattern", "contains machine scanner\n", "line 1: want"},
		{"rejects a file without rules", "# nothing\n", "no rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSignatures(tt.src)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseSignatures() error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseSignatures() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseSignaturesKeepsInnerSpaces(t *testing.T) {
	rules, err := parseSignatures("contains machine security_scanner   Trend   Micro  \n")
	if err != nil {
		t.Fatalf("parseSignatures() error = %v", err)
	}
	if got, want := rules[0].pattern, "trend   micro"; got != want {
		t.Errorf("pattern = %q, want %q", got, want)
	}
}

func TestParseRanges(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{"parses IPv4 and IPv6 prefixes", "machine security_scanner 10.0.0.0/8\nhuman yahoo_proxy 2001:db8::/32\n", ""},
		{"allows an empty list", "# none\n", ""},
		{"rejects a bare address", "machine x 10.0.0.1\n", "line 1: prefix"},
		{"rejects an unknown class", "robot x 10.0.0.0/8\n", "line 1: class"},
		{"rejects a bad reason", "machine Bad 10.0.0.0/8\n", "line 1: reason"},
		{"rejects extra fields", "\nmachine x 10.0.0.0/8 extra\n", "line 2: want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRanges(tt.src)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseRanges() error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseRanges() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestClassifierOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RangesFile), []byte("machine security_scanner 192.0.2.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClassifierFrom(dir)
	if err != nil {
		t.Fatalf("NewClassifierFrom() error = %v", err)
	}
	hit := Hit{Method: "GET", UserAgent: chromeWindows, IP: ip("192.0.2.9"), SinceSent: time.Hour}
	if class, reason := c.Classify(hit); class != ClassMachine || reason != "security_scanner" {
		t.Errorf("with the override range: Classify = %q, %q; want machine, security_scanner", class, reason)
	}
	// The embedded signatures still apply: only ranges.txt was replaced.
	if class, reason := c.Classify(Hit{Method: "GET", UserAgent: "Mimecast"}); class != ClassMachine || reason != "security_scanner" {
		t.Errorf("embedded signatures: Classify = %q, %q", class, reason)
	}
	if err := os.WriteFile(filepath.Join(dir, SignaturesFile), []byte("bogus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClassifierFrom(dir); err == nil || !strings.Contains(err.Error(), "signatures.txt") {
		t.Errorf("a broken override: error = %v, want one naming signatures.txt", err)
	}
}

func BenchmarkClassify(b *testing.B) {
	c, err := NewClassifier()
	if err != nil {
		b.Fatalf("NewClassifier() error = %v", err)
	}
	h := Hit{Method: "GET", UserAgent: chromeWindows, SinceSent: time.Hour}
	for b.Loop() {
		c.Classify(h)
	}
}
