// Package i18n holds the printed words and the number, money and date formats of
// the languages invoices are issued in (en, de, fr, es, nl). The invoice PDF, the
// customer statement and the invoice e-mail all take their labels from here, so a
// German invoice reads the same in the PDF as in the mail that carries it.
//
// Formats are fixed per language rather than taken from the host's locale: a
// rendered invoice must come out byte-identical wherever it is rendered.
package i18n
