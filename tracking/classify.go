package tracking

import (
	"bufio"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Class says who caused a hit on a pixel, link or page.
type Class string

const (
	ClassHuman   Class = "human"   // a person opened or viewed it, perhaps through a privacy proxy
	ClassMachine Class = "machine" // a prefetcher, scanner or script; it proves nothing about a person
)

// Reasons the classifier gives by itself; the others come from signatures.txt.
const (
	reasonHeadRequest     = "head_request"
	reasonTooFast         = "too_fast_after_delivery"
	reasonAutomatedClient = "automated_client"
	reasonBrowser         = "browser"
	reasonPrefetch        = "prefetch"
	reasonHoneypot        = "honeypot"
	reasonAllLinks        = "all_links_at_once"
)

// tooFast is how soon after sending a hit cannot be a person: a message still has to
// be delivered and noticed, but scanners at the receiving gateway fetch at once.
const tooFast = 2 * time.Second

// Hit is what the classifier needs to know about one request.
type Hit struct {
	Method    string        // HTTP method, e.g. "GET"
	UserAgent string        // the User-Agent header, as sent
	IP        netip.Addr    // the client address (full, never stored by the classifier); zero if unknown
	SinceSent time.Duration // time from our relay accepting the message to the hit; 0 if unknown
	// Prefetch is set when the request says it is a speculative fetch (Purpose,
	// Sec-Purpose or X-Moz: prefetch): a browser or proxy loading ahead of a person.
	Prefetch bool
	// Honeypot is set for the hidden link in the e-mail that no person can see or click.
	Honeypot bool
	// AllLinks is set when the message's other links (the honeypot among them) were hit
	// moments before: a scanner walking every link, not a person choosing one.
	AllLinks bool
}

//go:embed signatures.txt
var signatureFile string

//go:embed ranges.txt
var rangeFile string

// Data file names, embedded as defaults and looked up in an override directory.
const (
	SignaturesFile = "signatures.txt"
	RangesFile     = "ranges.txt"
)

// rule is one line of signatures.txt.
type rule struct {
	exact   bool   // the whole user agent must equal pattern; otherwise a substring match
	pattern string // lower-cased for substring rules, which match case-insensitively
	class   Class
	reason  string
}

// Classifier tells people from machines by request method, user agent and timing. It
// is immutable once built and safe for concurrent use.
type Classifier struct {
	rules  []rule
	ranges []ipRange
}

// NewClassifier parses the embedded user-agent signatures and IP ranges. The lists
// are data rather than code so that a new scanner is a one-line change reviewed as such.
func NewClassifier() (*Classifier, error) {
	return NewClassifierFrom("")
}

// NewClassifierFrom is NewClassifier with an override directory: a signatures.txt or
// ranges.txt found in dir replaces the embedded one, so operators can update the data
// without a release. An empty dir uses the embedded files only.
func NewClassifierFrom(dir string) (*Classifier, error) {
	sigs, ranges := signatureFile, rangeFile
	if dir != "" {
		var err error
		if sigs, err = readOverride(dir, SignaturesFile, sigs); err != nil {
			return nil, err
		}
		if ranges, err = readOverride(dir, RangesFile, ranges); err != nil {
			return nil, err
		}
	}
	rules, err := parseSignatures(sigs)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", SignaturesFile, err)
	}
	rs, err := parseRanges(ranges)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", RangesFile, err)
	}
	return &Classifier{rules: rules, ranges: rs}, nil
}

func readOverride(dir, name, def string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return def, nil
	}
	if err != nil {
		return "", fmt.Errorf("read tracking data %s: %w", name, err)
	}
	return string(b), nil
}

// Classify says whether h came from a person or a machine, and why. In order:
//   - the hidden honeypot link is a machine ("honeypot"): no person sees it;
//   - a HEAD request is a machine ("head_request"): browsers and mail clients GET;
//   - a declared prefetch is a machine ("prefetch"): nobody has looked yet;
//   - a missing user agent is a machine ("automated_client"): every browser sends one;
//   - a machine user-agent signature decides ("apple_mpp", "security_scanner", ...);
//   - a machine IP range decides: scanners often send a browser's user agent from
//     their data centres;
//   - every link hit at once is a machine ("all_links_at_once");
//   - a hit within 2 seconds of sending is a machine ("too_fast_after_delivery"), even
//     through a human proxy, since no person has seen the message yet;
//   - a human signature or range gives its reason ("google_image_proxy", "yahoo_proxy");
//   - anything else is a person ("browser").
func (c *Classifier) Classify(h Hit) (Class, string) {
	if h.Honeypot {
		return ClassMachine, reasonHoneypot
	}
	if strings.EqualFold(h.Method, "HEAD") {
		return ClassMachine, reasonHeadRequest
	}
	if h.Prefetch {
		return ClassMachine, reasonPrefetch
	}
	if strings.TrimSpace(h.UserAgent) == "" {
		return ClassMachine, reasonAutomatedClient
	}
	r, matched := c.match(h.UserAgent)
	if matched && r.class == ClassMachine {
		return r.class, r.reason
	}
	ipr, ipMatched := c.matchIP(h.IP)
	if ipMatched && ipr.class == ClassMachine {
		return ipr.class, ipr.reason
	}
	if h.AllLinks {
		return ClassMachine, reasonAllLinks
	}
	if h.SinceSent > 0 && h.SinceSent < tooFast {
		return ClassMachine, reasonTooFast
	}
	if matched {
		return r.class, r.reason
	}
	if ipMatched {
		return ipr.class, ipr.reason
	}
	return ClassHuman, reasonBrowser
}

// ipRange is one line of ranges.txt.
type ipRange struct {
	prefix netip.Prefix
	class  Class
	reason string
}

// matchIP returns the first range holding ip. The list is short (tens of prefixes),
// so a linear scan is cheaper than building a trie.
func (c *Classifier) matchIP(ip netip.Addr) (ipRange, bool) {
	if !ip.IsValid() {
		return ipRange{}, false
	}
	ip = ip.Unmap()
	for _, r := range c.ranges {
		if r.prefix.Contains(ip) {
			return r, true
		}
	}
	return ipRange{}, false
}

// parseRanges reads "class reason prefix" lines (see ranges.txt), reporting bad lines
// by number. An empty list is allowed: ranges only add to the user-agent signals.
func parseRanges(src string) ([]ipRange, error) {
	var out []ipRange
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"class reason prefix\", got %q", n, line)
		}
		class := Class(f[0])
		if class != ClassHuman && class != ClassMachine {
			return nil, fmt.Errorf("line %d: class %q: want human or machine", n, f[0])
		}
		if !validReason(f[1]) {
			return nil, fmt.Errorf("line %d: reason %q: want lower-case words joined by _", n, f[1])
		}
		p, err := netip.ParsePrefix(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: prefix %q: %w", n, f[2], err)
		}
		out = append(out, ipRange{prefix: p.Masked(), class: class, reason: f[1]})
	}
	return out, sc.Err()
}

// match returns the first rule that matches ua.
func (c *Classifier) match(ua string) (rule, bool) {
	lower := strings.ToLower(ua)
	for _, r := range c.rules {
		if r.exact && ua == r.pattern || !r.exact && strings.Contains(lower, r.pattern) {
			return r, true
		}
	}
	return rule{}, false
}

// parseSignatures reads the format described at the top of signatures.txt and reports
// every bad line by number, so a typo fails start-up instead of misclassifying.
func parseSignatures(src string) ([]rule, error) {
	var rules []rule
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: want \"match class reason pattern\", got %q", n, line)
		}
		var r rule
		switch f[0] {
		case "exact":
			r.exact = true
		case "contains":
		default:
			return nil, fmt.Errorf("line %d: match %q: want exact or contains", n, f[0])
		}
		switch Class(f[1]) {
		case ClassHuman, ClassMachine:
			r.class = Class(f[1])
		default:
			return nil, fmt.Errorf("line %d: class %q: want human or machine", n, f[1])
		}
		if !validReason(f[2]) {
			return nil, fmt.Errorf("line %d: reason %q: want lower-case words joined by _", n, f[2])
		}
		r.reason = f[2]
		// The pattern is the rest of the line, inner spaces kept.
		rest := line
		for _, field := range f[:3] {
			rest = strings.TrimSpace(strings.TrimPrefix(rest, field))
		}
		r.pattern = rest
		if !r.exact {
			r.pattern = strings.ToLower(rest)
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	return rules, nil
}

func validReason(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
