package httpapi

import (
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

func TestSafeNextStaysInsideTheWorkspace(t *testing.T) {
	cases := []struct{ name, next, want string }{
		{"keeps a workspace page", "/c/invoices/inv_1?x=1", "/c/invoices/inv_1?x=1"},
		{"keeps the worklist", "/c", "/c"},
		{"defaults when empty", "", "/c"},
		{"refuses another site", "https://evil.test/c", "/c"},
		{"refuses a scheme-relative URL", "//evil.test/c", "/c"},
		{"refuses a backslash trick", `/c\..\\evil.test`, "/c"},
		{"refuses the API", "/v1/invoices", "/c"},
		{"refuses a look-alike prefix", "/collector", "/c"},
		{"refuses the sign-in page itself", "/c/login", "/c"},
		{"refuses a dot-dot escape", "/c/../v1/invoices", "/c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := safeNext(c.next); got != c.want {
				t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
			}
		})
	}
}

// TestCollectorRoutesAreDocumented keeps 70-collector.yaml and the /c routes in step,
// whether or not the workspace is wired.
func TestCollectorRoutesAreDocumented(t *testing.T) {
	raw, err := os.ReadFile("openapi/70-collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var frag struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &frag); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, item := range frag.Paths {
		for m := range item {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	e := NewServer(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), BodyLimit: "1M"}).(*echo.Echo)
	routed := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, "/c") {
			continue
		}
		p := regexp.MustCompile(`:([a-z0-9_]+)`).ReplaceAllString(r.Path, "{$1}")
		routed[r.Method+" "+p] = true
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in 70-collector.yaml", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("70-collector.yaml documents %s, which no route serves", k)
		}
	}
}

// FuzzSafeNext: whatever a sign-in link carries in next, the redirect stays inside
// the workspace on this origin.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/c", "/c/invoices/inv_1?q=1", "//evil.test", `/c\evil`, "https://evil.test", "/c/../v1", "/c/%2e%2e/v1", "/c/\t/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q leaves the origin", next, got)
		}
		if u.Path != "/c" && !strings.HasPrefix(u.Path, "/c/") || u.Path != path.Clean(u.Path) && u.Path != "/c/" {
			t.Fatalf("safeNext(%q) = %q leaves the workspace", next, got)
		}
	})
}
