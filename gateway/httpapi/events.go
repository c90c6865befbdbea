package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/tracking/providers"
	"github.com/labstack/echo/v4"
)

// Providers verifies the e-mail providers' webhooks. A nil or unset member turns
// that provider's endpoint off (404).
type Providers struct {
	SNS      *providers.SNS
	Postmark *providers.Postmark
	Mailgun  *providers.Mailgun
	SendGrid *providers.SendGrid
}

// providerBodyLimit bounds provider webhook bodies; SendGrid batches are the largest.
const providerBodyLimit = 5 << 20

// providerWebhook receives one provider request. It answers 200 once every event in
// it is kept (a repeat of an event already kept is fine), 401 when the signature
// does not verify, and 503 when the events could not be stored, so the provider
// retries.
func (h *handlers) providerWebhook(c echo.Context) error {
	ctx := c.Request().Context()
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, providerBodyLimit+1))
	if err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the request body could not be read")
	}
	if len(body) > providerBodyLimit {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the body exceeds the limit of 5M")
	}
	var events []providers.Event
	p := h.Providers
	switch name := c.Param("provider"); {
	case name == "ses" && p.SNS != nil:
		res, err := p.SNS.Handle(ctx, body)
		if err != nil {
			return providerError(err)
		}
		if res.Confirmed {
			h.Log.InfoContext(ctx, "sns subscription confirmed")
		}
		events = res.Events
	case name == "postmark" && p.Postmark != nil:
		if err := p.Postmark.Verify(c.Request()); err != nil {
			return providerError(err)
		}
		events, err = providers.ParsePostmark(body)
	case name == "mailgun" && p.Mailgun != nil:
		events, err = p.Mailgun.Parse(body)
	case name == "sendgrid" && p.SendGrid != nil:
		events, err = p.SendGrid.Parse(c.Request().Header, body)
	default:
		return gateway.Errorf(gateway.KindNotFound, "no webhook for provider %q is configured", name)
	}
	if err != nil {
		return providerError(err)
	}
	for _, ev := range events {
		if err := h.Reports.ReceiveProvider(ctx, gateway.ProviderEvent{Provider: ev.Provider, EventID: ev.EventID,
			MessageID: ev.MessageID, At: ev.At, Report: ev.Report, Raw: ev.Raw}); err != nil {
			return err
		}
	}
	return writeJSON(c, http.StatusOK, map[string]int{"received": len(events)})
}

func providerError(err error) error {
	switch {
	case errors.Is(err, providers.ErrSignature):
		return gateway.Wrap(gateway.KindUnauthorized, err, "the webhook signature or credentials do not verify")
	case errors.Is(err, providers.ErrPayload):
		return gateway.Wrap(gateway.KindMalformed, err, "the body is not an event this provider sends")
	}
	return gateway.Wrap(gateway.KindUnavailable, err, "the webhook could not be verified now; retry later")
}

// decodeStrict reads a JSON body, refusing unknown fields so that a typo is an
// error, not a silently ignored setting.
func decodeStrict(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, fmt.Sprintf("the body is not a valid JSON object of this endpoint: %v", err))
	}
	return nil
}

func (h *handlers) createWebhookEndpoint(c echo.Context) error {
	var in gateway.EndpointInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	ep, err := h.Webhooks.CreateEndpoint(c.Request().Context(), tenantOf(c).ID, in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/endpoints/"+ep.ID)
	return writeJSON(c, http.StatusCreated, ep)
}

func (h *handlers) listWebhookEndpoints(c echo.Context) error {
	eps, err := h.Webhooks.Endpoints(c.Request().Context(), tenantOf(c).ID)
	if err != nil {
		return err
	}
	if eps == nil {
		eps = []gateway.WebhookEndpoint{}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"endpoints": eps, "event_types": gateway.WebhookEventTypes})
}

func (h *handlers) updateWebhookEndpoint(c echo.Context) error {
	var in gateway.EndpointInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	ep, err := h.Webhooks.UpdateEndpoint(c.Request().Context(), tenantOf(c).ID, c.Param("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ep)
}

func (h *handlers) deleteWebhookEndpoint(c echo.Context) error {
	if err := h.Webhooks.DeleteEndpoint(c.Request().Context(), tenantOf(c).ID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) webhookDeliveries(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	ds, err := h.Webhooks.Deliveries(c.Request().Context(), tenantOf(c).ID, c.Param("id"), limit)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []gateway.WebhookDelivery{}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"endpoint_id": c.Param("id"), "deliveries": ds})
}

func (h *handlers) replayWebhookDelivery(c echo.Context) error {
	d, err := h.Webhooks.Replay(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, d)
}

func (h *handlers) listEvents(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	page, err := h.Webhooks.Events(c.Request().Context(), tenantOf(c).ID, c.QueryParam("after"), limit)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, page)
}

func queryInt(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &gateway.Error{Kind: gateway.KindInvalid, Message: "the query is invalid",
			Fields: []gateway.FieldError{{Field: name, Code: "not_integer", Message: name + " must be a whole number"}}}
	}
	return n, nil
}

// addEventRoutes is the events surface: provider webhooks in, webhook endpoints
// and the event feed out. Called from addRoutes.
func addEventRoutes(e *echo.Echo, api *echo.Group, h *handlers) {
	// E-mail providers authenticate by their own signatures, not API keys.
	e.POST("/v1/providers/:provider", h.providerWebhook)
	api.GET("/events", h.listEvents)
	api.POST("/webhooks/endpoints", h.createWebhookEndpoint, requireJSON)
	api.GET("/webhooks/endpoints", h.listWebhookEndpoints)
	api.PATCH("/webhooks/endpoints/:id", h.updateWebhookEndpoint, requireJSON)
	api.DELETE("/webhooks/endpoints/:id", h.deleteWebhookEndpoint)
	api.GET("/webhooks/endpoints/:id/deliveries", h.webhookDeliveries)
	api.POST("/webhooks/deliveries/:id/replay", h.replayWebhookDelivery)
}
