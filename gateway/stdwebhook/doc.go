// Package stdwebhook signs and verifies webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com): headers webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed with a
// "whsec_"-prefixed base64 secret. Receivers can use any Standard Webhooks library.
// It also holds the HTTP poster the webhook worker sends with.
package stdwebhook
