// Package render turns gateway documents into PDF bytes with maroto v2: the
// invoice (RenderInvoice), the customer statement (RenderStatement) and, built
// from the same parts, the delivery certificate.
//
// It is pure: data in, bytes out, no I/O. Labels and number, money and date
// formats come from gateway/i18n in the document's locale. Text is set in the Go
// fonts embedded in the binary (golang.org/x/image/font/gofont), so Latin, Greek
// and Cyrillic names print and can be extracted back as text; a character the
// fonts cannot draw is refused with a KindUnprocessable *gateway.Error naming the
// field, rather than silently disappearing from a legal document.
//
// Output is reproducible: the same document always yields the same bytes, so the
// SHA-256 recorded as evidence for a rendered invoice can be re-derived later.
//
// A new kind of document is made of the parts in text.go: newLayout (which
// records unprintable text per field), layout.row and layout.paragraphs for
// wrapped text of known height, heading and section for blocks kept together on
// a page, layout.footer for the seller's legal footer, and Renderer.pdf, which
// paginates the chunks, sets the metadata and returns the bytes.
//
// gofpdf is a patched copy in third_party/gofpdf (see PATCHES.md there): fonts
// are parsed once per process instead of once per document.
package render
