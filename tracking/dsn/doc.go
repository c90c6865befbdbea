// Package dsn reads the delivery reports that mail servers send back to a VERP
// bounce address: RFC 3464 delivery status notifications (including the
// message/global-delivery-status form of RFC 6533 that postfix sends after an
// SMTPUTF8 transaction), RFC 8098 message disposition notifications (read
// receipts), and, through a fallback classifier, the free-text bounces that older
// or non-conforming servers (qmail, Exim, Exchange, Gmail, Yahoo, sendmail) send.
//
// It is pure: bytes in, a Report out. Deciding which delivery a report is about
// and what it changes belongs to the gateway.
package dsn
