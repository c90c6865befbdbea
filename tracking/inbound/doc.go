// Package inbound is the SMTP listener for delivery reports. Mail servers send
// DSNs and read receipts to the envelope sender of the message they are about, the
// VERP bounce address bounce+<token>@<bounce domain>; this listener accepts mail
// for that domain only, reads each message within a size limit and hands its bytes
// to a Handler (the gateway's report use case). It knows nothing of storage.
package inbound
