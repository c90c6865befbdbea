package tracking

import (
	"bufio"
	_ "embed"
	"fmt"
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
)

// tooFast is how soon after sending a hit cannot be a person: a message still has to
// be delivered and noticed, but scanners at the receiving gateway fetch at once.
const tooFast = 2 * time.Second

// Hit is what the classifier needs to know about one request.
type Hit struct {
	Method    string        // HTTP method, e.g. "GET"
	UserAgent string        // the User-Agent header, as sent
	SinceSent time.Duration // time from our relay accepting the message to the hit; 0 if unknown
}

//go:embed signatures.txt
var signatureFile string

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
	rules []rule
}

// NewClassifier parses the embedded user-agent signatures. The list is data rather
// than code so that a new scanner is a one-line change reviewed as such.
func NewClassifier() (*Classifier, error) {
	rules, err := parseSignatures(signatureFile)
	if err != nil {
		return nil, fmt.Errorf("parse signatures.txt: %w", err)
	}
	return &Classifier{rules: rules}, nil
}

// Classify says whether h came from a person or a machine, and why. In order:
//   - a HEAD request is a machine ("head_request"): browsers and mail clients GET;
//   - a missing user agent is a machine ("automated_client"): every browser sends one;
//   - a machine signature decides ("apple_mpp", "security_scanner", ...);
//   - a hit within 2 seconds of sending is a machine ("too_fast_after_delivery"), even
//     through a human proxy, since no person has seen the message yet;
//   - a human signature gives its reason ("google_image_proxy", "yahoo_proxy");
//   - anything else is a person ("browser").
func (c *Classifier) Classify(h Hit) (Class, string) {
	if strings.EqualFold(h.Method, "HEAD") {
		return ClassMachine, reasonHeadRequest
	}
	if strings.TrimSpace(h.UserAgent) == "" {
		return ClassMachine, reasonAutomatedClient
	}
	r, matched := c.match(h.UserAgent)
	if matched && r.class == ClassMachine {
		return r.class, r.reason
	}
	if h.SinceSent > 0 && h.SinceSent < tooFast {
		return ClassMachine, reasonTooFast
	}
	if matched {
		return r.class, r.reason
	}
	return ClassHuman, reasonBrowser
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
