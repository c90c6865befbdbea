package httpapi

import (
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// addRoutes is the whole HTTP surface of the gateway in one place.
func addRoutes(e *echo.Echo, d Deps) {
	h := &handlers{Deps: d, keys: newKeyCache(d.KeyCacheTTL, time.Now)}
	h.openapiDoc, h.openapiErr = OpenAPIDocument()

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
	api.POST("/invoices/batch", h.createBatch, requireJSON)
	api.GET("/invoices", h.listInvoices)
	api.GET("/invoices/:id", h.getInvoice)
	api.GET("/invoices/:id/events", h.invoiceEvents)
	api.GET("/invoices/:id/pdf", h.invoicePDF)
	api.POST("/invoices/:id/attachments", h.addAttachment)
	api.GET("/settings/terms", h.getTerms)
	api.PUT("/settings/terms", h.putTerms, requireJSON)
	api.GET("/customers/:customer_id/terms", h.getTerms)
	api.PUT("/customers/:customer_id/terms", h.putTerms, requireJSON)
	api.POST("/api-keys", h.createKey, requireJSON)
	api.GET("/api-keys", h.listKeys)
	api.DELETE("/api-keys/:id", h.revokeKey)
	e.GET("/v1/openapi.json", h.openapi)
	addEventRoutes(e, api, h)
	api.GET("/invoices/:id/tracking", h.invoiceTracking)
	api.GET("/settings/tracking", h.getTrackingSettings)
	api.PUT("/settings/tracking", h.putTrackingSettings, requireJSON)
	api.POST("/deliveries/:id/revoke-links", h.revokeLinks)
	api.POST("/deliveries/:id/resend", h.resendDelivery)
	api.POST("/invoices/:id/deliveries", h.addDelivery, requireJSON)
	api.GET("/settings/delivery", h.getDeliverySettings)
	api.PUT("/settings/delivery", h.putDeliverySettings, requireJSON)
	addProofRoutes(e, api, h)

	// Collectors: HTML workspace, session cookies (collector.go).
	addCollectorRoutes(e, d)
}
