package httpapi

import (
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

// invoiceResponse is the API's view of an invoice.
type invoiceResponse struct {
	ID            string                  `json:"id"`
	Object        string                  `json:"object"`
	Number        string                  `json:"number"`
	Status        gateway.Status          `json:"status"`
	CustomerID    string                  `json:"customer_id"`
	Currency      string                  `json:"currency"`
	IssueDate     gateway.Date            `json:"issue_date"`
	DueDate       gateway.Date            `json:"due_date"`
	Totals        gateway.Totals          `json:"totals"`
	TermsVersion  string                  `json:"terms_version"`
	TermsSource   string                  `json:"terms_source"`
	TermsSHA256   string                  `json:"terms_sha256"`
	PayloadSHA256 string                  `json:"payload_sha256"`
	PDF           *gateway.Object         `json:"pdf"`
	Attachments   []gateway.ProofDocument `json:"attachments"`
	Deliveries    []gateway.Delivery      `json:"deliveries"`
	CreatedAt     time.Time               `json:"created_at"`
	UpdatedAt     time.Time               `json:"updated_at"`
	Invoice       gateway.Invoice         `json:"invoice"`
	Disputes      []gateway.Dispute       `json:"disputes,omitempty"` // newest first; open ones have status "open"
}

func toResponse(r *gateway.Record, attachments []gateway.ProofDocument) invoiceResponse {
	if attachments == nil {
		attachments = []gateway.ProofDocument{}
		for i, a := range r.Invoice.Attachments {
			attachments = append(attachments, gateway.ProofDocument{N: i + 1, Filename: a.Filename, Description: a.Description,
				ContentType: a.StoredType, Size: a.Size, SHA256: a.SHA256, Key: a.Key, CreatedAt: r.CreatedAt})
		}
	}
	ds := r.Deliveries
	if ds == nil {
		ds = []gateway.Delivery{}
	}
	return invoiceResponse{
		ID: r.ID, Object: "invoice", Number: r.Invoice.Number, Status: r.Status, CustomerID: r.Invoice.Customer.ID,
		Currency: r.Invoice.Currency, IssueDate: r.Invoice.IssueDate, DueDate: r.Invoice.DueDate, Totals: r.Totals,
		TermsVersion: r.TermsVersion, TermsSource: r.TermsSource, TermsSHA256: r.TermsSHA256, PayloadSHA256: r.PayloadSHA256,
		PDF: r.PDF, Attachments: attachments, Deliveries: ds, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Invoice: r.Invoice,
	}
}

// readBody reads the whole body; the body limit middleware fails the read itself
// when a body without a Content-Length grows past the limit, and that stays a 413.
func (h *handlers) readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, echo.NewHTTPError(he.Code, "the body exceeds the limit of "+h.BodyLimit)
		}
		return nil, gateway.Wrap(gateway.KindMalformed, err, "the request body could not be read")
	}
	return body, nil
}

func (h *handlers) createInvoice(c echo.Context) error {
	body, err := h.readBody(c)
	if err != nil {
		return err
	}
	res, err := h.Intake.Accept(c.Request().Context(), tenantOf(c), body, gateway.AcceptOptions{
		IdempotencyKey: c.Request().Header.Get("Idempotency-Key"),
		Encode: func(r *gateway.Record) ([]byte, error) {
			var b strings.Builder
			err := jsonEncode(&b, toResponse(r, nil))
			return []byte(b.String()), err
		},
	})
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	if res.Replay != nil {
		hd.Set("Idempotent-Replayed", "true")
		if res.Replay.InvoiceID != "" {
			hd.Set(echo.HeaderLocation, "/v1/invoices/"+res.Replay.InvoiceID)
		}
		return c.Blob(res.Replay.Status, echo.MIMEApplicationJSON, res.Replay.Response)
	}
	hd.Set(echo.HeaderLocation, "/v1/invoices/"+res.Record.ID)
	return writeJSON(c, http.StatusAccepted, toResponse(res.Record, nil))
}

// batchResult is one invoice's outcome in a batch answer.
type batchResult struct {
	Index    int              `json:"index"`
	Status   int              `json:"status"`
	Replayed bool             `json:"replayed,omitempty"`
	Invoice  *invoiceResponse `json:"invoice,omitempty"`
	Problem  *Problem         `json:"problem,omitempty"`
}

type batchResponse struct {
	Object   string        `json:"object"`
	Accepted int           `json:"accepted"`
	Replayed int           `json:"replayed"`
	Refused  int           `json:"refused"`
	Results  []batchResult `json:"results"`
}

// createBatch answers 207 with one result per invoice, in the order sent.
func (h *handlers) createBatch(c echo.Context) error {
	body, err := h.readBody(c)
	if err != nil {
		return err
	}
	items, err := h.Intake.AcceptBatch(c.Request().Context(), tenantOf(c), body)
	if err != nil {
		return err
	}
	out := batchResponse{Object: "batch_result", Results: make([]batchResult, len(items))}
	for i, it := range items {
		res := batchResult{Index: it.Index, Status: it.Status, Replayed: it.Replayed}
		if it.Err != nil {
			p := problemFor(it.Err)
			p.Instance = "/v1/invoices/batch#/invoices/" + strconv.Itoa(it.Index)
			res.Status, res.Problem = p.Status, &p
			out.Refused++
		} else {
			ir := toResponse(it.Record, nil)
			res.Invoice = &ir
			if it.Replayed {
				out.Replayed++
			} else {
				out.Accepted++
			}
		}
		out.Results[i] = res
	}
	return writeJSON(c, http.StatusMultiStatus, out)
}

type listResponse[T any] struct {
	Object  string `json:"object"`
	URL     string `json:"url"`
	HasMore bool   `json:"has_more"`
	Data    []T    `json:"data"`
}

func (h *handlers) listInvoices(c echo.Context) error {
	q, err := gateway.ParseListQuery(c.QueryParams())
	if err != nil {
		return err
	}
	rs, more, err := h.Intake.List(c.Request().Context(), tenantOf(c).ID, q)
	if err != nil {
		return err
	}
	out := listResponse[invoiceResponse]{Object: "list", URL: "/v1/invoices", HasMore: more, Data: make([]invoiceResponse, len(rs))}
	for i, r := range rs {
		out.Data[i] = toResponse(r, nil)
	}
	return writeJSON(c, http.StatusOK, out)
}

func (h *handlers) getInvoice(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := h.Intake.Invoice(ctx, tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	as, err := h.Intake.Attachments(ctx, r.ID)
	if err != nil {
		return err
	}
	if as == nil {
		as = []gateway.ProofDocument{}
	}
	resp := toResponse(r, as)
	if h.Disputes != nil {
		if resp.Disputes, err = h.Disputes.List(ctx, r.TenantID, r.ID); err != nil {
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

// addAttachment takes one proof-of-delivery document as multipart/form-data: the
// file in the field "file", an optional "description". The type is sniffed from the
// bytes; the part's declared type is ignored.
func (h *handlers) addAttachment(c echo.Context) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, `send the document as "Content-Type: multipart/form-data" with the file in the field "file"`)
	}
	fh, err := c.FormFile("file")
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return echo.NewHTTPError(he.Code, "the body exceeds the limit of "+h.BodyLimit)
		}
		if errors.Is(err, http.ErrMissingFile) {
			return &gateway.Error{Kind: gateway.KindInvalid, Message: "the attachment has invalid fields",
				Fields: []gateway.FieldError{{Field: "file", Code: "required", Message: `send the document in the multipart field "file"`}}}
		}
		return gateway.Wrap(gateway.KindMalformed, err, "the multipart body could not be read: "+err.Error())
	}
	f, err := fh.Open()
	if err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "open uploaded file")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, gateway.MaxAttachmentBytes+1))
	if err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the uploaded file could not be read")
	}
	name := c.FormValue("filename")
	if name == "" {
		name = fh.Filename
	}
	a, err := h.Intake.AddAttachment(c.Request().Context(), tenantOf(c).ID, c.Param("id"), name, c.FormValue("description"), data)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, a)
}

type termsRequest struct {
	Text string `json:"text"`
}

func (h *handlers) putTerms(c echo.Context) error {
	body, err := h.readBody(c)
	if err != nil {
		return err
	}
	var req termsRequest
	if err := gateway.DecodeJSON(body, &req); err != nil {
		return err
	}
	v, err := h.Intake.SetTerms(c.Request().Context(), tenantOf(c).ID, c.Param("customer_id"), req.Text)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, v)
}

func (h *handlers) getTerms(c echo.Context) error {
	v, err := h.Intake.Terms(c.Request().Context(), tenantOf(c).ID, c.Param("customer_id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

type keyRequest struct {
	Name string `json:"name"`
}

type createdKey struct {
	gateway.APIKey
	Secret string `json:"secret"` // shown once
}

func (h *handlers) createKey(c echo.Context) error {
	body, err := h.readBody(c)
	if err != nil {
		return err
	}
	var req keyRequest
	if err := gateway.DecodeJSON(body, &req); err != nil {
		return err
	}
	k, secret, err := h.Keys.Create(c.Request().Context(), tenantOf(c).ID, req.Name)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, createdKey{APIKey: k, Secret: secret})
}

func (h *handlers) listKeys(c echo.Context) error {
	ks, err := h.Keys.List(c.Request().Context(), tenantOf(c).ID)
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []gateway.APIKey{}
	}
	return writeJSON(c, http.StatusOK, listResponse[gateway.APIKey]{Object: "list", URL: "/v1/api-keys", Data: ks})
}

func (h *handlers) revokeKey(c echo.Context) error {
	k, err := h.Keys.Revoke(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, k)
}
