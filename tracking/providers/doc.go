// Package providers verifies and reads the event webhooks of e-mail providers
// (Amazon SES through SNS, Postmark, Mailgun, SendGrid) and maps each event onto the
// same report vocabulary the DSN parser uses (tracking/dsn), so that a delivery is
// recorded the same way whichever way its report came in.
//
// Every provider signs differently; each Verify* function checks its scheme before
// anything in the body is believed. The package makes outgoing requests only to
// fetch SNS signing certificates and to confirm SNS subscriptions, and only to hosts
// on a configured allowlist.
package providers
