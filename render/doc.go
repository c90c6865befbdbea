// Package render turns gateway documents into PDF bytes with maroto v2.
//
// It is pure: data in, bytes out, no I/O. Text is set in the Go fonts embedded in
// the binary (golang.org/x/image/font/gofont), so Latin, Greek and Cyrillic names
// print and can be extracted back as text; a character the fonts cannot draw is
// refused with a KindUnprocessable *gateway.Error naming the field, rather than
// silently disappearing from a legal document.
//
// Output is reproducible: the same document always yields the same bytes, so the
// SHA-256 recorded as evidence for a rendered invoice can be re-derived later.
package render
