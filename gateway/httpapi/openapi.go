package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

// openapiFragments are the parts of the OpenAPI 3.1 document, one per area of the
// API, so that areas developed side by side never edit the same file. 00-base.yaml
// holds info, servers, security and the shared Problem schema.
//
//go:embed openapi/*.yaml
var openapiFragments embed.FS

// fragmentKeys are the top-level keys a fragment may hold; the base may also set
// the document's own keys.
var (
	fragmentKeys = []string{"paths", "components", "webhooks"}
	baseKeys     = []string{"openapi", "info", "servers", "security", "tags", "jsonSchemaDialect", "externalDocs"}
)

// OpenAPIDocument merges the embedded fragments, in file name order, into one
// OpenAPI document as JSON. A path operation, component or webhook defined twice is
// an error: serve refuses to start rather than serve an ambiguous contract.
func OpenAPIDocument() ([]byte, error) {
	names, err := fs.Glob(openapiFragments, "openapi/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	doc := map[string]any{}
	for _, name := range names {
		raw, err := openapiFragments.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := yamlUnmarshal(raw, &frag); err != nil {
			return nil, fmt.Errorf("openapi fragment %s: %w", path.Base(name), err)
		}
		if err := mergeFragment(doc, frag, path.Base(name) == "00-base.yaml"); err != nil {
			return nil, fmt.Errorf("openapi fragment %s: %w", path.Base(name), err)
		}
	}
	if doc["openapi"] == nil {
		return nil, fmt.Errorf("openapi: no fragment sets the openapi version (00-base.yaml missing?)")
	}
	return json.Marshal(doc)
}

func mergeFragment(doc, frag map[string]any, base bool) error {
	for key, val := range frag {
		switch {
		case slices.Contains(fragmentKeys, key):
			section, ok := val.(map[string]any)
			if !ok {
				return fmt.Errorf("%s must be a mapping", key)
			}
			if doc[key] == nil {
				doc[key] = map[string]any{}
			}
			dst := doc[key].(map[string]any)
			depth := 1 // webhooks: name -> path item; paths: path -> method; components: kind -> name
			if key == "paths" || key == "components" {
				depth = 2
			}
			if err := mergeUnique(dst, section, key, depth); err != nil {
				return err
			}
		case base && slices.Contains(baseKeys, key):
			doc[key] = val
		default:
			return fmt.Errorf("top-level key %q is not allowed in a fragment (only %v)", key, fragmentKeys)
		}
	}
	return nil
}

// mergeUnique copies src into dst; at the given depth a key present in both is a
// duplicate definition.
func mergeUnique(dst, src map[string]any, where string, depth int) error {
	for k, v := range src {
		existing, present := dst[k]
		if !present {
			dst[k] = v
			continue
		}
		if depth <= 1 {
			return fmt.Errorf("%s/%s is defined twice", where, k)
		}
		a, ok1 := existing.(map[string]any)
		b, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s/%s is defined twice", where, k)
		}
		if err := mergeUnique(a, b, where+"/"+k, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// openapi serves the merged document, built once at start-up.
func (h *handlers) openapi(c echo.Context) error {
	if h.openapiErr != nil {
		return h.openapiErr
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, h.openapiDoc)
}

func yamlUnmarshal(raw []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// EchoPathToOpenAPI turns an Echo route path (/v1/invoices/:id) into an OpenAPI
// path template (/v1/invoices/{id}).
func EchoPathToOpenAPI(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
