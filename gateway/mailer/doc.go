// Package mailer hands invoice e-mails to an SMTP relay with github.com/wneessen/go-mail
// and translates what happened on the wire into a classified *gateway.SendError.
//
// The classification decides whether a retry could deliver a message twice. A failure
// before the end of the message data (dial, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT,
// DATA, or a definite 4xx/5xx reply to the data) is gateway.PhaseBeforeData: retrying
// cannot double the message. A broken connection or a missing reply after the whole
// message was transmitted is gateway.PhaseAfterData (RFC 5321 §3.8): the relay may have
// accepted it, so the caller must not resend blindly.
//
// Sub-package catcher is an in-process SMTP server for tests and for the dev mail
// catcher behind `make run`.
package mailer
