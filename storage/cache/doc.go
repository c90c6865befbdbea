// Package cache holds invoicegw's Redis-backed helpers: a read-through cache of
// tracking tokens that keeps the open pixel and tracked links off Postgres. Redis
// holds nothing that is not also in Postgres, so every Redis failure here degrades to
// reading the truth, never to an error or a slow answer for the recipient.
package cache
