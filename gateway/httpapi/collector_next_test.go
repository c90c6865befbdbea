package httpapi

import "testing"

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
