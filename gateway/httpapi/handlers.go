package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

type handlers struct {
	Deps
	keys *keyCache // see auth.go
	// openapiDoc is the merged OpenAPI document (openapi.go); serve checks at
	// start-up that it builds.
	openapiDoc []byte
	openapiErr error
}

type tenantKey struct{}

// authenticate lives in auth.go, with the key cache and the rate limit.

func tenantOf(c echo.Context) gateway.Tenant {
	t, _ := c.Request().Context().Value(tenantKey{}).(gateway.Tenant)
	return t
}

// requireJSON refuses bodies that are not declared as JSON with 415.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, `send the body as JSON with "Content-Type: application/json"`)
		}
		return next(c)
	}
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func writeJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	return jsonEncode(c.Response(), v)
}

// The invoice handlers (create, batch, list, get, events, pdf, attachments) live in
// intake_handlers.go.

func writePDF(c echo.Context, r *gateway.Record, data []byte, disposition string) error {
	hd := c.Response().Header()
	hd.Set("X-Content-SHA256", r.PDF.SHA256)
	hd.Set("ETag", `"`+r.PDF.SHA256+`"`)
	hd.Set("Content-Disposition", disposition+`; filename="`+gateway.PDFFilename(r.Invoice.Number)+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	hd.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "application/pdf", data)
}

func (h *handlers) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz asks every dependency at once with a short deadline.
func (h *handlers) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(h.Checks))
	for _, ch := range h.Checks {
		go func() { results <- result{ch.Name, ch.Ping(ctx)} }()
	}
	out := readiness{Status: "ok", Checks: map[string]string{}}
	for range h.Checks {
		r := <-results
		out.Checks[r.name] = "ok"
		if r.err != nil {
			out.Status, out.Checks[r.name] = "unavailable", "unavailable"
			h.Log.WarnContext(ctx, "readiness check failed", "check", r.name, "err", r.err)
		}
	}
	if out.Status != "ok" {
		return writeJSON(c, http.StatusServiceUnavailable, out)
	}
	return writeJSON(c, http.StatusOK, out)
}
