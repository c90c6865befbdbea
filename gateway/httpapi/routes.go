package httpapi

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// addRoutes is the whole HTTP surface of the gateway in one place.
func addRoutes(e *echo.Echo, d Deps) {
	h := &handlers{Deps: d}

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)

	// Recipients: no credentials, the unguessable token is the capability.
	e.GET("/t/o/:file", h.pixel)
	e.HEAD("/t/o/:file", h.pixel)
	e.GET("/t/l/:token", h.click)
	e.HEAD("/t/l/:token", h.click)
	e.GET("/i/:token", h.page)
	e.HEAD("/i/:token", h.page)
	e.GET("/i/:token/pdf", h.download)
	e.POST("/i/:token/confirm", h.confirm, middleware.BodyLimit(formBodyLimit))
	e.POST("/i/:token/query", h.query, middleware.BodyLimit(formBodyLimit))

	// Accounting systems: bearer API keys.
	api := e.Group("/v1", middleware.BodyLimit(d.BodyLimit), h.authenticate)
	api.POST("/invoices", h.createInvoice, requireJSON)
	api.GET("/invoices/:id", h.getInvoice)
	api.GET("/invoices/:id/events", h.invoiceEvents)
	api.GET("/invoices/:id/pdf", h.invoicePDF)
	addEventRoutes(e, api, h)
	api.GET("/invoices/:id/tracking", h.invoiceTracking)
	api.GET("/settings/tracking", h.getTrackingSettings)
	api.PUT("/settings/tracking", h.putTrackingSettings, requireJSON)
	api.POST("/deliveries/:id/revoke-links", h.revokeLinks)
	addProofRoutes(e, api, h)

	// Collectors: HTML workspace, session cookies (collector.go).
	addCollectorRoutes(e, d)
}
