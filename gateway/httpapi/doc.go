// Package httpapi is invoicegw's HTTP surface on Echo v4: the authenticated JSON API
// for accounting systems, the tracking endpoints (pixel, link, hosted page) for
// recipients, and health checks. It is the only package that imports Echo; domain
// errors become RFC 9457 problem documents in exactly one place (problem.go).
package httpapi
