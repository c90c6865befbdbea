// Package jobs runs the gateway's background work on River, the Postgres-backed job
// queue: one DeliverJob per delivery, enqueued in the transaction that accepted the
// invoice, worked by gateway.Deliverer.
package jobs
