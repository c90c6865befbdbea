package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/invoicegw/invoicegw/gateway"
)

type resendRequest struct {
	Reason string `json:"reason"`
}

// resendDelivery: POST /v1/deliveries/{id}/resend. An empty body is fine.
func (h *handlers) resendDelivery(c echo.Context) error {
	var req resendRequest
	if err := decodeOptionalJSON(c, &req, "the body must be empty or a JSON object with an optional reason"); err != nil {
		return err
	}
	d, err := h.Deliveries.Resend(c.Request().Context(), tenantOf(c).ID, c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, d)
}

type addDeliveryRequest struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// addDelivery: POST /v1/invoices/{id}/deliveries sends the archived invoice to
// another contact.
func (h *handlers) addDelivery(c echo.Context) error {
	var req addDeliveryRequest
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the body must be a JSON object with email and an optional name: "+err.Error())
	}
	d, err := h.Deliveries.Redirect(c.Request().Context(), tenantOf(c).ID, c.Param("id"), gateway.Contact{Name: req.Name, Email: req.Email})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/invoices/"+d.InvoiceID)
	return writeJSON(c, http.StatusAccepted, d)
}

func (h *handlers) getDeliverySettings(c echo.Context) error {
	s, err := h.Deliveries.Settings(c.Request().Context(), tenantOf(c).ID)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, s)
}

func (h *handlers) putDeliverySettings(c echo.Context) error {
	var in gateway.DeliverySettings
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the body must be a delivery settings JSON object: "+err.Error())
	}
	out, err := h.Deliveries.SetSettings(c.Request().Context(), tenantOf(c).ID, in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

// decodeOptionalJSON decodes a JSON object body into v; an empty body leaves v zero.
func decodeOptionalJSON(c echo.Context, v any, msg string) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return gateway.Wrap(gateway.KindMalformed, err, msg+": "+err.Error())
	}
	return nil
}
