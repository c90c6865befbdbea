package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

func TestOpenAPIDocumentsEveryRouteAndNothingElse(t *testing.T) {
	raw, err := OpenAPIDocument()
	if err != nil {
		t.Fatalf("OpenAPIDocument: %v", err)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	// Every optional area switched on (non-nil), so that all its routes are registered.
	e := NewServer(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), BodyLimit: "10M",
		ProofDeps: ProofDeps{Proofs: &gateway.Proofs{}, Disputes: &gateway.Disputes{}}}).(*echo.Echo)
	routed := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasSuffix(r.Name, "glob..func1") {
			continue
		}
		routed[r.Method+" "+EchoPathToOpenAPI(r.Path)] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from the OpenAPI document: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented operations no route serves: %v", extra)
	}
}

func TestOpenAPIMergeRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name string
		frag string
	}{
		{"rejects a schema defined twice", "components:\n  schemas:\n    Problem: {type: object}\n"},
		{"rejects an operation defined twice", "paths:\n  /healthz:\n    get: {responses: {}}\n"},
		{"rejects top-level keys other than paths, components, webhooks", "info: {title: x}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := map[string]any{}
			base := map[string]any{
				"components": map[string]any{"schemas": map[string]any{"Problem": map[string]any{}}},
				"paths":      map[string]any{"/healthz": map[string]any{"get": map[string]any{}}},
			}
			if err := mergeFragment(doc, base, true); err != nil {
				t.Fatal(err)
			}
			var frag map[string]any
			if err := yamlUnmarshal([]byte(tc.frag), &frag); err != nil {
				t.Fatal(err)
			}
			if err := mergeFragment(doc, frag, false); err == nil {
				t.Errorf("merge of %q: err = nil, want a duplicate or key error", tc.frag)
			}
		})
	}
	t.Run("merges another method on an existing path", func(t *testing.T) {
		doc := map[string]any{}
		_ = mergeFragment(doc, map[string]any{"paths": map[string]any{"/x": map[string]any{"get": map[string]any{}}}}, false)
		if err := mergeFragment(doc, map[string]any{"paths": map[string]any{"/x": map[string]any{"post": map[string]any{}}}}, false); err != nil {
			t.Errorf("err = %v, want nil", err)
		}
	})
}
