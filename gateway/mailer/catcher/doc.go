// Package catcher is an in-process SMTP server built on github.com/emersion/go-smtp. It
// is the real server that mailer tests talk to over loopback TCP, and the dev mail
// catcher behind `make run`, which can also write every accepted message to a folder.
//
// It accepts any sender and recipient, needs no authentication (any AUTH PLAIN is
// accepted, even without TLS) and answers like postfix: "250 2.0.0 Ok: queued as
// <ID>". Options.Reply can turn the answer to a message's data into a rejection, a
// delay or a dropped connection, for fault tests.
package catcher
