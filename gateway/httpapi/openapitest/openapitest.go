package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const docURL = "https://invoicegw.dev/openapi.json"

// Doc is the merged document with its schemas ready to validate against.
type Doc struct {
	raw      map[string]any
	compiler *jsonschema.Compiler
	paths    []pathTemplate
}

type pathTemplate struct {
	template string
	re       *regexp.Regexp
}

// Load merges the embedded fragments and prepares the validator.
func Load(t testing.TB) *Doc {
	t.Helper()
	raw, err := httpapi.OpenAPIDocument()
	if err != nil {
		t.Fatalf("OpenAPIDocument: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse document: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatalf("add document: %v", err)
	}
	d := &Doc{raw: doc.(map[string]any), compiler: c}
	for p := range d.raw["paths"].(map[string]any) {
		re := regexp.MustCompile(`\\\{[^/]+?\\\}`).ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`)
		d.paths = append(d.paths, pathTemplate{p, regexp.MustCompile("^" + re + "$")})
	}
	// Literal paths win over templated ones (/v1/invoices/batch over /v1/invoices/{id}).
	sort.Slice(d.paths, func(i, j int) bool {
		return strings.Count(d.paths[i].template, "{") < strings.Count(d.paths[j].template, "{")
	})
	return d
}

// Raw is the merged document as decoded JSON.
func (d *Doc) Raw() map[string]any { return d.raw }

// Pointer escapes JSON pointer tokens and joins them.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// Validate checks v (decoded JSON) against the schema at pointer in the document.
func (d *Doc) Validate(pointer string, v any) error {
	sch, err := d.compiler.Compile(docURL + "#" + pointer)
	if err != nil {
		return fmt.Errorf("compile %s: %w", pointer, err)
	}
	return sch.Validate(v)
}

// Template returns the documented path template serving a concrete path.
func (d *Doc) Template(path string) (string, bool) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	for _, p := range d.paths {
		if p.re.MatchString(path) {
			return p.template, true
		}
	}
	return "", false
}

// ValidateResponse checks that a real response is documented for the operation and
// that a JSON body matches its schema.
func (d *Doc) ValidateResponse(method, path string, status int, contentType string, body []byte) error {
	tmpl, ok := d.Template(path)
	if !ok {
		return fmt.Errorf("%s %s: path not in the document", method, path)
	}
	op, ok := d.raw["paths"].(map[string]any)[tmpl].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s: operation not in the document", method, tmpl)
	}
	code := strconv.Itoa(status)
	respPtr := Pointer("paths", tmpl, strings.ToLower(method), "responses", code)
	resp, ok := op["responses"].(map[string]any)[code].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s: status %d not documented", method, tmpl, status)
	}
	if ref, ok := resp["$ref"].(string); ok {
		respPtr = strings.TrimPrefix(ref, "#")
		resp = d.lookup(respPtr)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		return nil
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s %d: content type %q not documented", method, tmpl, status, mt)
	}
	if _, ok := media["schema"]; !ok || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %v", method, tmpl, status, err)
	}
	if err := d.Validate(respPtr+Pointer("content", mt, "schema"), v); err != nil {
		return fmt.Errorf("%s %s %d: %v", method, tmpl, status, err)
	}
	return nil
}

func (d *Doc) lookup(ptr string) map[string]any {
	var cur any = d.raw
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, _ := cur.(map[string]any)
		cur = m[tok]
	}
	m, _ := cur.(map[string]any)
	return m
}

// Example is one example in the document with the schema it must satisfy.
type Example struct {
	Where  string // pointer of the example
	Schema string // pointer of its schema
	Value  any
}

// Examples finds every example: `examples` arrays in schemas, and `example` /
// `examples` of media types and parameters next to a schema.
func (d *Doc) Examples() []Example {
	var out []Example
	var walk func(ptr string, node any)
	walk = func(ptr string, node any) {
		switch n := node.(type) {
		case map[string]any:
			_, hasSchema := n["schema"]
			if hasSchema {
				if ex, ok := n["example"]; ok {
					out = append(out, Example{ptr + "/example", ptr + "/schema", ex})
				}
				if exs, ok := n["examples"].(map[string]any); ok {
					for name, e := range exs {
						if v, ok := e.(map[string]any)["value"]; ok {
							out = append(out, Example{ptr + Pointer("examples", name, "value"), ptr + "/schema", v})
						}
					}
				}
			}
			if exs, ok := n["examples"].([]any); ok && !hasSchema && (n["type"] != nil || n["properties"] != nil) {
				for i, v := range exs {
					out = append(out, Example{ptr + "/examples/" + strconv.Itoa(i), ptr, v})
				}
			}
			for k, v := range n {
				walk(ptr+Pointer(k), v)
			}
		case []any:
			for i, v := range n {
				walk(ptr+"/"+strconv.Itoa(i), v)
			}
		}
	}
	walk("", d.raw)
	return out
}

// MarshalValue round-trips v through JSON into the shape the validator expects.
func MarshalValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}
