package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/page"
	"github.com/johnfercher/maroto/v2/pkg/config"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/consts/pagesize"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
	"github.com/johnfercher/maroto/v2/pkg/props"
	"github.com/johnfercher/maroto/v2/pkg/repository"
	"github.com/phpdave11/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/invoicegw/invoicegw/gateway"
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
	return &Renderer{fonts: fonts, regular: regular, bold: bold}, nil
}

// RenderInvoice implements gateway.Renderer.
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

	l := newLayout(r)
	chunks := l.invoice(doc)
	if len(l.problems) > 0 {
		// Unprocessable, not invalid: the invoice is well-formed, but the embedded
		// font cannot draw some of it, and a PDF must not silently drop text.
		return nil, &gateway.Error{
			Kind:    gateway.KindUnprocessable,
			Message: "the invoice contains characters that cannot be printed",
			Fields:  l.problems,
		}
	}

	created := issueTime(doc.Invoice.IssueDate)
	m := maroto.New(r.config(doc, created))
	for _, c := range chunks {
		// Start a new page rather than split a block, unless the block would not
		// fit on any page: then it flows.
		if h := c.rows.height(); h < pageBody && !m.FitlnCurrentPage(h) {
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
		return nil, gateway.Wrap(gateway.KindInternal, fmt.Errorf("generate invoice pdf: %w", err), "the invoice could not be printed")
	}
	out := pdf.GetBytes()
	if err := pinModDate(out, created); err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, err, "the invoice could not be printed")
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
func (r *Renderer) config(doc gateway.Document, created time.Time) *entity.Config {
	inv := doc.Invoice
	return config.NewBuilder().
		WithPageSize(pagesize.A4).
		WithLeftMargin(marginSide).
		WithRightMargin(marginSide).
		WithTopMargin(marginTop).
		WithBottomMargin(marginBottom).
		WithMaxGridSize(gridSize).
		WithCustomFonts(r.fonts).
		WithDefaultFont(&props.Font{Family: fontFamily, Style: fontstyle.Normal, Size: sizeBody, Color: &props.BlackColor}).
		WithPageNumber(props.PageNumber{Pattern: "Page {current} of {total}", Place: props.RightBottom, Size: sizeSmall, Color: &grey}).
		WithTitle("Invoice "+inv.Number, true).
		WithAuthor(inv.Seller.Name, true).
		WithSubject(inv.Number, true).
		WithCreator("invoicegw", false).
		WithCreationDate(created).
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
