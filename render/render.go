package render

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"sync"
	"time"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/page"
	"github.com/johnfercher/maroto/v2/pkg/config"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/consts/pagesize"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
	"github.com/johnfercher/maroto/v2/pkg/props"
	"github.com/johnfercher/maroto/v2/pkg/repository"
	"github.com/phpdave11/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/i18n"
)

// fontFamily is the name the embedded Go fonts are registered under in maroto.
const fontFamily = "go"

// Page geometry in millimetres: A4 with margins wide enough for office printers.
const (
	pageWidth    = 210.0
	pageHeight   = 297.0
	marginSide   = 15.0
	marginTop    = 15.0
	marginBottom = 20.0
	contentWidth = pageWidth - 2*marginSide
	pageBody     = pageHeight - marginTop - marginBottom
)

var _ gateway.Renderer = (*Renderer)(nil)

// Renderer prints invoices. It holds only what is read at start-up and never
// changes afterwards, so one Renderer serves any number of concurrent renders.
type Renderer struct {
	fonts   []*entity.CustomFont
	regular *face
	bold    *face
	png     *png.Encoder // for QR codes; safe for concurrent use, reuses compressors
}

// gofpdfDefaults sets, once per process, the gofpdf defaults that reproducible
// output needs and that maroto offers no per-document option for: gofpdf writes
// its font and resource dictionaries in Go map order, so without catalog sorting
// two renders of the same document differ in object order. It must run before any
// render; sync.Once makes the write happen-before every later read of it.
var gofpdfDefaults sync.Once

// New parses the embedded fonts once; a bad font fails start-up.
func New() (*Renderer, error) {
	regular, err := newFace(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("load Go Regular: %w", err)
	}
	bold, err := newFace(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("load Go Bold: %w", err)
	}
	fonts, err := repository.New().
		AddUTF8FontFromBytes(fontFamily, fontstyle.Normal, goregular.TTF).
		AddUTF8FontFromBytes(fontFamily, fontstyle.Bold, gobold.TTF).
		Load()
	if err != nil {
		return nil, fmt.Errorf("register fonts: %w", err)
	}
	gofpdfDefaults.Do(func() { gofpdf.SetDefaultCatalogSort(true) })
	qr := &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBuffers{}}
	return &Renderer{fonts: fonts, regular: regular, bold: bold, png: qr}, nil
}

// RenderInvoice implements gateway.Renderer. The labels and number formats are
// those of the invoice's locale.
func (r *Renderer) RenderInvoice(doc gateway.Document) ([]byte, error) {
	if strings.TrimSpace(doc.Terms) == "" {
		return nil, &gateway.Error{
			Kind:    gateway.KindUnprocessable,
			Message: "the invoice has no terms and conditions, and an invoice is never printed without them",
			Fields: []gateway.FieldError{{
				Field:   "terms",
				Code:    "required",
				Message: "terms are required: send them with the invoice or set the tenant's default terms",
			}},
		}
	}
	if err := checkConsistent(doc); err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, err, "the invoice could not be printed")
	}
	loc, err := i18n.Lookup(doc.Invoice.Locale)
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindUnprocessable, Message: "the invoice cannot be printed in its language",
			Fields: []gateway.FieldError{{Field: "locale", Code: "unsupported_locale", Message: err.Error()}}}
	}

	l := newLayout(r, loc)
	inv := doc.Invoice
	var logo *logoImage
	if inv.Seller.Logo != nil && len(inv.Seller.Logo.Data.Bytes) > 0 {
		logo = l.logo("seller.logo.data", inv.Seller.Logo.Data.Bytes)
	}
	chunks := l.invoice(doc, logo)
	footer := l.footer(inv.Seller)
	if err := l.err("the invoice contains text or images that cannot be printed"); err != nil {
		return nil, err
	}
	meta := pdfMeta{
		title:   loc.T("invoice.title") + " " + inv.Number,
		author:  inv.Seller.Name,
		subject: inv.Number,
		created: issueTime(inv.IssueDate),
	}
	return r.pdf(meta, loc, chunks, footer)
}

// err is the layout's problems as one error: unprocessable, not invalid, because
// the document is well-formed but the embedded font cannot draw some of it, and a
// PDF must not silently drop text.
func (l *layout) err(msg string) error {
	if len(l.problems) == 0 {
		return nil
	}
	return &gateway.Error{Kind: gateway.KindUnprocessable, Message: msg, Fields: l.problems}
}

// pdfMeta is a document's Info dictionary. created is also its modification date:
// taking it from the document, not the clock, makes renders reproducible.
type pdfMeta struct {
	title, author, subject string
	created                time.Time
}

// pdf places the chunks on pages, with the footer and "Page X of Y" on every page,
// and returns the PDF bytes. Any document of this package is made this way.
func (r *Renderer) pdf(meta pdfMeta, loc *i18n.Locale, chunks []chunk, footer block) ([]byte, error) {
	m := maroto.New(r.config(meta, loc))
	if len(footer) > 0 {
		rows := make([]core.Row, len(footer))
		for i, p := range footer {
			rows[i] = p.row
		}
		if err := m.RegisterFooter(rows...); err != nil {
			return nil, gateway.Wrap(gateway.KindInternal, fmt.Errorf("register footer: %w", err), "the document could not be printed")
		}
	}
	usable := pageBody - footer.height()
	for _, c := range chunks {
		// Start a new page rather than split a block, unless the block would not
		// fit on any page: then it flows.
		if h := c.rows.height(); h < usable && !m.FitlnCurrentPage(h) {
			m.AddPages(page.New())
			if c.repeat != nil {
				m.AddRows(c.repeat().row)
			}
		}
		for _, p := range c.rows {
			m.AddRows(p.row)
		}
	}
	pdf, err := m.Generate()
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, fmt.Errorf("generate pdf: %w", err), "the document could not be printed")
	}
	out := pdf.GetBytes()
	if err := pinModDate(out, meta.created); err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, err, "the document could not be printed")
	}
	return out, nil
}

// checkConsistent catches documents whose totals were not computed from their
// invoice: a caller's bug, which must not become a PDF with missing amounts.
func checkConsistent(doc gateway.Document) error {
	inv := doc.Invoice
	switch {
	case len(doc.Totals.Lines) != len(inv.Lines):
		return fmt.Errorf("check document: %d line amounts for %d lines", len(doc.Totals.Lines), len(inv.Lines))
	case inv.IssueDate.IsZero() || inv.DueDate.IsZero():
		return errors.New("check document: issue or due date missing")
	case doc.TermsSHA256 == "":
		return errors.New("check document: terms hash missing")
	}
	return nil
}

// issueTime is the PDF creation date: midnight UTC of the issue date. Taking it from
// the document, not the clock, is what makes renders reproducible.
func issueTime(d gateway.Date) time.Time {
	y, m, day := d.Date()
	return time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
}

// config is built per document: metadata differs, and maroto keeps state in it.
func (r *Renderer) config(meta pdfMeta, loc *i18n.Locale) *entity.Config {
	return config.NewBuilder().
		WithPageSize(pagesize.A4).
		WithLeftMargin(marginSide).
		WithRightMargin(marginSide).
		WithTopMargin(marginTop).
		WithBottomMargin(marginBottom).
		WithMaxGridSize(gridSize).
		WithCustomFonts(r.fonts).
		WithDefaultFont(&props.Font{Family: fontFamily, Style: fontstyle.Normal, Size: sizeBody, Color: &props.BlackColor}).
		WithPageNumber(props.PageNumber{Pattern: loc.T("page"), Place: props.RightBottom, Size: sizeSmall, Color: &grey}).
		WithTitle(meta.title, true).
		WithAuthor(meta.author, true).
		WithSubject(meta.subject, true).
		WithCreator("invoicegw", false).
		WithCreationDate(meta.created).
		WithCompression(true).
		Build()
}

// pinModDate makes the PDF's modification date equal its creation date. gofpdf
// stamps /ModDate with time.Now() unless a process-wide default is set, and maroto
// has no option for it; a fixed process-wide date would be unrelated to the
// invoice. The stamp is overwritten in place with a string of the same length, so
// the cross-reference offsets stay valid. The Info dictionary is never compressed.
func pinModDate(pdf []byte, t time.Time) error {
	key := []byte("/ModDate (D:")
	stamp := t.Format("20060102150405")
	i := bytes.Index(pdf, key)
	if i < 0 || bytes.Count(pdf, key) != 1 {
		return errors.New("pin modification date: want exactly one /ModDate in the PDF")
	}
	at := i + len(key)
	if len(pdf) < at+len(stamp)+1 || pdf[at+len(stamp)] != ')' {
		return errors.New("pin modification date: /ModDate is not a D:YYYYMMDDHHmmSS string")
	}
	for _, c := range pdf[at : at+len(stamp)] {
		if c < '0' || c > '9' {
			return errors.New("pin modification date: /ModDate is not a D:YYYYMMDDHHmmSS string")
		}
	}
	copy(pdf[at:], stamp)
	return nil
}
