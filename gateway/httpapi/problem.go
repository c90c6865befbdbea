package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

// problemTypeBase prefixes every problem type URI; the suffix is stable and
// documented in the OpenAPI document.
const problemTypeBase = "https://invoicegw.dev/problems/"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Errors   []gateway.FieldError `json:"errors,omitempty"`
	// InvoiceID names the existing invoice on a duplicate number.
	InvoiceID string `json:"invoice_id,omitempty"`
}

type problemKind struct {
	status int
	slug   string
	title  string
}

var kinds = map[gateway.Kind]problemKind{
	gateway.KindMalformed:     {http.StatusBadRequest, "malformed-request", "The request body is not valid JSON"},
	gateway.KindInvalid:       {http.StatusUnprocessableEntity, "validation-error", "The request has invalid fields"},
	gateway.KindUnprocessable: {http.StatusUnprocessableEntity, "unprocessable", "The request cannot be processed"},
	gateway.KindUnauthorized:  {http.StatusUnauthorized, "unauthorized", "Missing or invalid API key"},
	gateway.KindNotFound:      {http.StatusNotFound, "not-found", "Not found"},
	gateway.KindConflict:      {http.StatusConflict, "conflict", "Conflict with the current state"},
	gateway.KindUnavailable:   {http.StatusServiceUnavailable, "unavailable", "A dependency is unavailable; retry later"},
	gateway.KindInternal:      {http.StatusInternalServerError, "internal", "Internal error"},

	gateway.KindIdempotencyInUse:    {http.StatusConflict, "idempotency-key-in-use", "A request with this Idempotency-Key is still being processed"},
	gateway.KindIdempotencyMismatch: {http.StatusUnprocessableEntity, "idempotency-key-reused", "The Idempotency-Key was used with a different request"},
}

// statusProblems covers errors raised by Echo itself (routing, body limit).
var statusProblems = map[int]problemKind{
	http.StatusNotFound:              {http.StatusNotFound, "not-found", "Not found"},
	http.StatusMethodNotAllowed:      {http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	http.StatusRequestEntityTooLarge: {http.StatusRequestEntityTooLarge, "body-too-large", "The request body is too large"},
	http.StatusUnsupportedMediaType:  {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported content type"},
	http.StatusUnauthorized:          {http.StatusUnauthorized, "unauthorized", "Missing or invalid API key"},
	http.StatusTooManyRequests:       {http.StatusTooManyRequests, "rate-limited", "Too many requests for this API key"},
	http.StatusBadRequest:            {http.StatusBadRequest, "bad-request", "Bad request"},
}

// problemFor turns any error into the problem document a client sees: the safe
// message of a gateway.Error, the status of an Echo error, else a bare 500.
func problemFor(err error) Problem {
	var p Problem
	var ge *gateway.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ge):
		k, ok := kinds[ge.Kind]
		if !ok {
			k = kinds[gateway.KindInternal]
		}
		p = Problem{Type: problemTypeBase + k.slug, Title: k.title, Status: k.status, Detail: ge.Message, Errors: ge.Fields}
		if ge.Kind == gateway.KindInternal {
			p.Detail = "" // internal messages may describe internals
		}
		p.InvoiceID = ge.Detail["invoice_id"]
	case errors.As(err, &he):
		k, ok := statusProblems[he.Code]
		if !ok {
			k = problemKind{he.Code, "http-" + strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "-")), http.StatusText(he.Code)}
		}
		p = Problem{Type: problemTypeBase + k.slug, Title: k.title, Status: k.status}
		if msg, ok := he.Message.(string); ok && he.Code < 500 {
			p.Detail = msg
		}
	default:
		k := kinds[gateway.KindInternal]
		p = Problem{Type: problemTypeBase + k.slug, Title: k.title, Status: k.status}
	}
	return p
}

// problemHandler is the one place where errors become responses. Clients get the
// safe message; causes go to the log.
func problemHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		req := c.Request()
		p := problemFor(err)
		if p.Status >= 500 {
			log.ErrorContext(req.Context(), "request failed", "method", req.Method, "route", c.Path(), "status", p.Status, "err", err)
		} else {
			log.DebugContext(req.Context(), "request refused", "method", req.Method, "route", c.Path(), "status", p.Status, "err", err)
		}
		switch p.Status {
		case http.StatusUnauthorized:
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="invoicegw"`)
		case http.StatusServiceUnavailable:
			c.Response().Header().Set("Retry-After", "5")
		}
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		if req.Method == http.MethodHead {
			return
		}
		if err := jsonEncode(c.Response(), p); err != nil {
			log.ErrorContext(req.Context(), "write problem", "err", err)
		}
	}
}
