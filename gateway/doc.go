// Package gateway holds invoicegw's domain: invoices, their deliveries, the evidence
// events recorded about them, and the use cases that accept an invoice and carry it to
// its recipient. It declares the interfaces it needs from storage, rendering and mail
// where they are used; adapters live in sub-packages and in storage/, render/ and
// tracking/, and only cmd/invoicegw wires them together.
package gateway
