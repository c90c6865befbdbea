package httpapi

import (
	"context"
	"encoding/json"
	"errors"
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
}

type tenantKey struct{}

// authenticate resolves the bearer API key to its tenant and stores the tenant in
// the request context.
func (h *handlers) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		auth := c.Request().Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || key == "" {
			return gateway.Errorf(gateway.KindUnauthorized, `send your API key as "Authorization: Bearer igw_..."`)
		}
		hash, err := gateway.HashAPIKey(strings.TrimSpace(key))
		if err != nil {
			return err
		}
		tenant, err := h.Auth.TenantByKeyHash(c.Request().Context(), hash)
		if err != nil {
			if gateway.ErrorKind(err) == gateway.KindNotFound {
				return gateway.Errorf(gateway.KindUnauthorized, "the API key is unknown or revoked")
			}
			return err
		}
		ctx := context.WithValue(c.Request().Context(), tenantKey{}, tenant)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

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

// invoiceResponse is the API's view of an invoice.
type invoiceResponse struct {
	ID            string             `json:"id"`
	Object        string             `json:"object"`
	Number        string             `json:"number"`
	Status        gateway.Status     `json:"status"`
	CustomerID    string             `json:"customer_id"`
	Currency      string             `json:"currency"`
	IssueDate     gateway.Date       `json:"issue_date"`
	DueDate       gateway.Date       `json:"due_date"`
	Totals        gateway.Totals     `json:"totals"`
	TermsSHA256   string             `json:"terms_sha256"`
	PayloadSHA256 string             `json:"payload_sha256"`
	PDF           *gateway.Object    `json:"pdf"`
	Deliveries    []gateway.Delivery `json:"deliveries"`
	CreatedAt     time.Time          `json:"created_at"`
	UpdatedAt     time.Time          `json:"updated_at"`
	Invoice       gateway.Invoice    `json:"invoice"`
	Disputes      []gateway.Dispute  `json:"disputes,omitempty"` // newest first; open ones have status "open"
}

func toResponse(r *gateway.Record) invoiceResponse {
	return invoiceResponse{
		ID: r.ID, Object: "invoice", Number: r.Invoice.Number, Status: r.Status, CustomerID: r.Invoice.Customer.ID,
		Currency: r.Invoice.Currency, IssueDate: r.Invoice.IssueDate, DueDate: r.Invoice.DueDate, Totals: r.Totals,
		TermsSHA256: r.TermsSHA256, PayloadSHA256: r.PayloadSHA256, PDF: r.PDF, Deliveries: r.Deliveries,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Invoice: r.Invoice,
	}
}

func (h *handlers) createInvoice(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		// The body limit middleware fails the read itself when a body without a
		// Content-Length grows past the limit; keep its 413.
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return echo.NewHTTPError(he.Code, "the body exceeds the limit of "+h.BodyLimit)
		}
		return gateway.Wrap(gateway.KindMalformed, err, "the request body could not be read")
	}
	r, err := h.Intake.Accept(c.Request().Context(), tenantOf(c), body)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/invoices/"+r.ID)
	return writeJSON(c, http.StatusAccepted, toResponse(r))
}

func (h *handlers) getInvoice(c echo.Context) error {
	r, err := h.Intake.Invoice(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	resp := toResponse(r)
	if h.Disputes != nil {
		if resp.Disputes, err = h.Disputes.List(c.Request().Context(), r.TenantID, r.ID); err != nil {
			return err
		}
	}
	return writeJSON(c, http.StatusOK, resp)
}

type eventsResponse struct {
	InvoiceID string          `json:"invoice_id"`
	Events    []gateway.Event `json:"events"`
}

func (h *handlers) invoiceEvents(c echo.Context) error {
	id := c.Param("id")
	evs, err := h.Intake.Events(c.Request().Context(), tenantOf(c).ID, id)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []gateway.Event{}
	}
	return writeJSON(c, http.StatusOK, eventsResponse{InvoiceID: id, Events: evs})
}

func (h *handlers) invoicePDF(c echo.Context) error {
	r, data, err := h.Intake.PDF(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writePDF(c, r, data, "attachment")
}

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
