// Package postgres is invoicegw's source of truth: tenants, API keys, invoices, their
// deliveries, tracking tokens and the evidence events, in PostgreSQL through pgx. It
// also owns the schema (embedded, numbered, forward-only migrations run under an
// advisory lock) and enqueues delivery jobs with River in the same transaction that
// stores an invoice, so an accepted invoice is never lost.
package postgres
