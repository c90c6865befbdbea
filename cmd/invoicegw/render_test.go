package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/render/pdftest"
)

func TestRenderCommand(t *testing.T) {
	example := filepath.Join("..", "..", "render", "testdata", "one-line.json")
	body, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	noTerms := filepath.Join(dir, "no-terms.json")
	if err := os.WriteFile(noTerms, []byte(dropKey(t, string(body), "terms")), 0o600); err != nil {
		t.Fatal(err)
	}
	termsFile := filepath.Join(dir, "terms.txt")
	if err := os.WriteFile(termsFile, []byte("Tenant terms from a file."), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(body), `"quantity": "3"`, `"quantity": "three"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantText   []string // in the PDF on stdout
		wantStderr []string // when the command fails
	}{
		{"prints the payload", []string{"render", example}, "", []string{"Invoice INV-2026-0042", "Amount due EUR 71.36"}, nil},
		{"prints in the language asked for", []string{"render", "--locale", "fr", example}, "", []string{"Facture INV-2026-0042", "Net à payer 71,36 EUR"}, nil},
		{"reads stdin", []string{"render", "-"}, string(body), []string{"Invoice INV-2026-0042"}, nil},
		{"prints the default terms when the payload has none", []string{"render", "--terms-file", termsFile, noTerms}, "",
			[]string{"Tenant terms from a file.", "Terms version: tenant-"}, nil},
		{"reports bad fields as the API does", []string{"render", bad}, "", nil,
			[]string{"the invoice has invalid fields (invalid)", "lines[0].quantity\tnot_a_decimal\t"}},
		{"reports missing terms", []string{"render", noTerms}, "", nil, []string{"terms\trequired\t"}},
		{"reports an unknown locale", []string{"render", "--locale", "it", example}, "", nil, []string{"locale\tunsupported_locale\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, strings.NewReader(tt.stdin), &stdout, &stderr)
			if tt.wantStderr != nil {
				if !errors.Is(err, errReported) {
					t.Fatalf("got error %v, want the failure reported on stderr", err)
				}
				for _, w := range tt.wantStderr {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("got stderr %q, want it to contain %q", stderr.String(), w)
					}
				}
				if stdout.Len() != 0 {
					t.Errorf("got %d bytes on stdout, want none", stdout.Len())
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v; stderr: %s", err, stderr.String())
			}
			text := pdftest.Collapse(strings.Join(pdftest.Pages(t, stdout.Bytes()), " "))
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("got PDF text without %q: %s", w, text)
				}
			}
		})
	}
}

// dropKey removes one top-level "key": "value" line from an indented JSON object.
func dropKey(t *testing.T, body, key string) string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), `"`+key+`":`) {
			continue
		}
		out = append(out, line)
	}
	s := strings.Join(out, "\n")
	// The dropped key was the last one: remove the comma it leaves dangling.
	return strings.Replace(s, "\",\n}", "\"\n}", 1)
}
