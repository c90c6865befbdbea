package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

// ProofDeps is what the proof and dispute routes call; both nil leaves the routes
// out (e.g. in tests of other areas).
type ProofDeps struct {
	Proofs   *gateway.Proofs
	Disputes *gateway.Disputes
}

func addProofRoutes(e *echo.Echo, api *echo.Group, h *handlers) {
	if h.Proofs == nil || h.Disputes == nil {
		return
	}
	e.GET("/.well-known/invoicegw-signing-key", h.signingKey)
	api.GET("/invoices/:id/proof", h.invoiceProof)
	api.GET("/invoices/:id/proof.zip", h.invoiceProofZip)
	api.GET("/invoices/:id/disputes", h.invoiceDisputes)
	api.POST("/invoices/:id/disputes", h.openDispute, requireJSON)
	api.GET("/disputes/:id", h.getDispute)
	api.POST("/disputes/:id/resolve", h.resolveDispute, requireJSON)
}

func (h *handlers) signingKey(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return writeJSON(c, http.StatusOK, h.Proofs.PublicKey())
}

func (h *handlers) invoiceProof(c echo.Context) error {
	p, err := h.Proofs.Proof(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeJSON(c, http.StatusOK, p)
}

func (h *handlers) invoiceProofZip(c echo.Context) error {
	data, name, err := h.Proofs.Bundle(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/zip", data)
}

type disputesResponse struct {
	InvoiceID string            `json:"invoice_id"`
	Disputes  []gateway.Dispute `json:"disputes"`
}

func (h *handlers) invoiceDisputes(c echo.Context) error {
	id := c.Param("id")
	ds, err := h.Disputes.List(c.Request().Context(), tenantOf(c).ID, id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, disputesResponse{InvoiceID: id, Disputes: ds})
}

func readBody(c echo.Context, limit string) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, echo.NewHTTPError(he.Code, "the body exceeds the limit of "+limit)
		}
		return nil, gateway.Wrap(gateway.KindMalformed, err, "the request body could not be read")
	}
	return body, nil
}

func (h *handlers) openDispute(c echo.Context) error {
	body, err := readBody(c, h.BodyLimit)
	if err != nil {
		return err
	}
	in, err := gateway.DecodeDispute(body, gateway.DisputeFromAPI)
	if err != nil {
		return err
	}
	d, err := h.Disputes.Open(c.Request().Context(), tenantOf(c).ID, c.Param("id"), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/disputes/"+d.ID)
	return writeJSON(c, http.StatusCreated, d)
}

func (h *handlers) getDispute(c echo.Context) error {
	d, err := h.Disputes.Dispute(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, d)
}

func (h *handlers) resolveDispute(c echo.Context) error {
	body, err := readBody(c, h.BodyLimit)
	if err != nil {
		return err
	}
	in, err := gateway.DecodeResolve(body)
	if err != nil {
		return err
	}
	d, err := h.Disputes.Resolve(c.Request().Context(), tenantOf(c).ID, c.Param("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, d)
}
