package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/consts/align"
	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
)

// gridSize is the number of grid units across the page; 24 rather than maroto's 12
// gives the line table's six columns usable proportions.
const gridSize = 24

// Font sizes in points.
const (
	sizeTitle   = 20.0
	sizeNumber  = 12.0
	sizeHeading = 10.0
	sizeBody    = 9.0
	sizeSmall   = 7.5
	sizeTerms   = 8.0
	sizeHash    = 6.0
)

// Spacing in millimetres.
const (
	padX    = 1.0 // between a column's edge and its text
	padY    = 0.6 // above the first and below the last line of a cell
	leading = 1.25
	// wrapSlack keeps our lines a hair narrower than the column, so that float
	// rounding in maroto's own width check never breaks a line a second time.
	wrapSlack = 0.1
)

var (
	grey      = props.Color{Red: 90, Green: 90, Blue: 90}
	lightGrey = props.Color{Red: 225, Green: 225, Blue: 225}
)

// style is how a piece of text is set.
type style struct {
	size  float64
	bold  bool
	right bool
	color *props.Color
	top   float64 // extra space above, e.g. to share a baseline with larger text
}

var (
	body      = style{size: sizeBody}
	bodyBold  = style{size: sizeBody, bold: true}
	bodyRight = style{size: sizeBody, right: true}
	label     = style{size: sizeSmall, color: &grey}
	labelBold = style{size: sizeSmall, bold: true}
)

func (s style) lineHeight() float64 { return s.size * ptToMM * leading }

func (s style) prop(top, bottom float64) props.Text {
	p := props.Text{
		Family: fontFamily,
		Style:  fontstyle.Normal,
		Size:   s.size,
		Align:  align.Left,
		Top:    top,
		Bottom: bottom,
		Left:   padX,
		Right:  padX,
		Color:  s.color,
	}
	if s.bold {
		p.Style = fontstyle.Bold
	}
	if s.right {
		p.Align = align.Right
	}
	return p
}

// cell is one column of a row: span grid units showing s.
type cell struct {
	span int
	s    string
	st   style
}

// part is one row with the height maroto will give it. Heights are known here
// because layout, not maroto, wraps every text.
type part struct {
	row    core.Row
	height float64
}

// block is rows kept on one page when they fit on one: a heading with its first
// lines, the totals, the last lines of the terms with their hash.
type block []part

func (b block) height() float64 {
	h := 0.0
	for _, p := range b {
		h += p.height
	}
	return h
}

// chunk is what the page loop places: a block, and the rows to repeat above it
// when it has to start a new page (the line table's column titles).
type chunk struct {
	rows   block
	repeat func() part
}

// layout builds the rows of one document. Every value taken from the document
// passes through v, which records the characters the fonts cannot draw.
type layout struct {
	r        *Renderer
	problems gateway.Problems
	reported map[string]bool
}

func newLayout(r *Renderer) *layout {
	return &layout{r: r, reported: map[string]bool{}}
}

// v returns value unchanged, after recording a problem for field if the fonts
// cannot draw one of its characters. Both faces are checked because which face a
// field is set in is a layout choice, and it must not change what is accepted.
func (l *layout) v(field, value string) string {
	for _, c := range value {
		if l.r.regular.covers(c) && l.r.bold.covers(c) {
			continue
		}
		if !l.reported[field] {
			l.reported[field] = true
			l.problems.Add(field, "unprintable_character",
				fmt.Sprintf("%s contains %q (%U), which the invoice font cannot print", field, c, c))
		}
		break
	}
	return value
}

func (l *layout) face(st style) *face {
	if st.bold {
		return l.r.bold
	}
	return l.r.regular
}

// width is the text width, in millimetres, of a column span grid units wide.
func width(span int) float64 {
	return contentWidth*float64(span)/gridSize - 2*padX - wrapSlack
}

// col sets s in a column, wrapped, one text component per line: maroto's own
// wrapping cannot break a word longer than the column. It returns the column's
// height, computed as maroto computes it.
func (l *layout) col(c cell) (core.Col, float64) {
	lines := l.face(c.st).wrap(c.s, c.st.size, width(c.span))
	if len(lines) == 0 {
		return col.New(c.span), 0
	}
	comps := make([]core.Component, len(lines))
	for i, line := range lines {
		bottom := 0.0
		if i == len(lines)-1 {
			bottom = padY
		}
		comps[i] = text.New(line, c.st.prop(c.st.top+padY+float64(i)*c.st.lineHeight(), bottom))
	}
	height := c.st.top + padY + float64(len(lines)-1)*c.st.lineHeight() + c.st.size*ptToMM + padY
	return col.New(c.span).Add(comps...), height
}

// row is an auto-height row: as tall as its tallest column.
func (l *layout) row(cells ...cell) part {
	cols := make([]core.Col, len(cells))
	height := 0.0
	for i, c := range cells {
		var h float64
		cols[i], h = l.col(c)
		height = max(height, h)
	}
	return part{row.New().Add(cols...), height}
}

// styled gives p's row a background or rules; it does not change its height.
func styled(p part, style *props.Cell) part {
	p.row.WithStyle(style)
	return p
}

func spacer(height float64) part {
	return part{row.New(height).Add(col.New(gridSize)), height}
}

// heading is the start of a section; callers keep it with the section's first rows.
func (l *layout) heading(title string) block {
	rule := &props.Cell{BorderType: border.Bottom, BorderColor: &grey, BorderThickness: 0.2}
	return block{
		spacer(5),
		styled(l.row(cell{gridSize, title, style{size: sizeHeading, bold: true}}), rule),
		spacer(1.5),
	}
}

// paragraphs sets multi-line text across the full width, one row per printed line,
// so that pages can break between any two lines of a long text.
func (l *layout) paragraphs(field, s string, st style) []part {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\t", " ").Replace(strings.TrimSpace(s))
	var parts []part
	for para := range strings.SplitSeq(s, "\n") {
		lines := l.face(st).wrap(l.v(field, para), st.size, width(gridSize))
		if len(lines) == 0 {
			parts = append(parts, spacer(st.lineHeight()/2))
			continue
		}
		for _, line := range lines {
			t := text.New(line, st.prop(0, st.lineHeight()-st.size*ptToMM))
			parts = append(parts, part{row.New().Add(col.New(gridSize).Add(t)), st.lineHeight()})
		}
	}
	return parts
}

// section is a heading and its text, kept together at the start and the end: the
// heading with the first lines, the last lines with what follows them (tail).
func section(head block, body []part, tail ...part) []block {
	const keep = 2 // lines that never stand alone at a page's top or bottom
	if len(body) <= 2*keep {
		return []block{append(append(head, body...), tail...)}
	}
	blocks := []block{append(head, body[:keep]...)}
	for _, p := range body[keep : len(body)-keep] {
		blocks = append(blocks, block{p})
	}
	end := append(block{}, body[len(body)-keep:]...)
	return append(blocks, append(end, tail...))
}

// invoice lays out the whole document in the order it is printed.
func (l *layout) invoice(doc gateway.Document) []chunk {
	inv := doc.Invoice
	var chunks []chunk
	add := func(blocks ...block) {
		for _, b := range blocks {
			chunks = append(chunks, chunk{rows: b})
		}
	}
	add(append(l.header(inv), l.parties(inv)...))
	chunks = append(chunks, l.lines(inv, doc.Totals)...)
	add(l.totals(inv.Currency, doc.Totals))
	if p := l.payment(inv.Payment); p != nil {
		add(p)
	}
	if strings.TrimSpace(inv.Notes) != "" {
		add(section(l.heading("Notes"), l.paragraphs("notes", inv.Notes, body))...)
	}
	hash := l.row(cell{gridSize, "Terms SHA-256: " + l.v("terms_sha256", doc.TermsSHA256), style{size: sizeHash, color: &grey}})
	terms := l.paragraphs("terms", doc.Terms, style{size: sizeTerms})
	add(section(l.heading("Terms and conditions"), terms, spacer(1.5), hash)...)
	return chunks
}

func (l *layout) header(inv gateway.Invoice) block {
	// Lower the number so that it shares the title's baseline.
	number := style{size: sizeNumber, bold: true, right: true, top: (sizeTitle - sizeNumber) * ptToMM}
	return block{
		l.row(
			cell{12, "Invoice", style{size: sizeTitle, bold: true}},
			cell{12, l.v("number", inv.Number), number},
		),
		spacer(6),
	}
}

// parties prints the seller beside the invoice's meta data, then the customer.
func (l *layout) parties(inv gateway.Invoice) block {
	seller := []cell{{12, "From", label}, {12, l.v("seller.name", inv.Seller.Name), bodyBold}}
	seller = append(seller, l.address("seller.address", inv.Seller.Address)...)
	if inv.Seller.TaxID != "" {
		seller = append(seller, cell{12, "Tax ID: " + l.v("seller.tax_id", inv.Seller.TaxID), body})
	}
	if inv.Seller.Email != "" {
		seller = append(seller, cell{12, "E-mail: " + l.v("seller.email", inv.Seller.Email), body})
	}

	meta := [][2]string{
		{"", ""}, // level with the seller's name, under "From"
		{"Invoice number", l.v("number", inv.Number)},
		{"Issue date", inv.IssueDate.Format(time.DateOnly)},
		{"Due date", inv.DueDate.Format(time.DateOnly)},
		{"Currency", l.v("currency", inv.Currency)},
		{"Customer ID", l.v("customer.id", inv.Customer.ID)},
	}

	var b block
	for i := range max(len(seller), len(meta)) {
		left := cell{12, "", body}
		if i < len(seller) {
			left = seller[i]
		}
		var m [2]string
		if i < len(meta) {
			m = meta[i]
		}
		b = append(b, l.row(left, cell{5, m[0], body}, cell{7, m[1], bodyRight}))
	}

	customer := []cell{
		{12, "Bill to", label},
		{12, l.v("customer.name", inv.Customer.Name), bodyBold},
		{12, "Attn: " + l.v("customer.contact.name", inv.Customer.Contact.Name), body},
	}
	customer = append(customer, l.address("customer.address", inv.Customer.Address)...)
	if inv.Customer.TaxID != "" {
		customer = append(customer, cell{12, "Tax ID: " + l.v("customer.tax_id", inv.Customer.TaxID), body})
	}
	b = append(b, spacer(6))
	for _, c := range customer {
		b = append(b, l.row(c))
	}
	return b
}

func (l *layout) address(field string, a gateway.Address) []cell {
	out := []cell{{12, l.v(field+".line1", a.Line1), body}}
	if a.Line2 != "" {
		out = append(out, cell{12, l.v(field+".line2", a.Line2), body})
	}
	city := strings.TrimSpace(l.v(field+".postal_code", a.PostalCode) + " " + l.v(field+".city", a.City))
	out = append(out, cell{12, city, body})
	if a.Region != "" {
		out = append(out, cell{12, l.v(field+".region", a.Region), body})
	}
	return append(out, cell{12, l.v(field+".country", a.Country), body})
}

// Line table column spans; they add up to gridSize.
const (
	spanDescription = 9
	spanQuantity    = 2
	spanUnit        = 2
	spanUnitPrice   = 4
	spanTaxRate     = 3
	spanAmount      = 4
)

// lines is the line table. Every line is a chunk of its own, so the table breaks
// between lines, never inside one; the column titles stay with the first line and
// are repeated at the top of every page the table continues on.
func (l *layout) lines(inv gateway.Invoice, t gateway.Totals) []chunk {
	head := func() part { return l.tableHead(inv.Currency) }
	rule := &props.Cell{BorderType: border.Bottom, BorderColor: &lightGrey, BorderThickness: 0.2}
	chunks := make([]chunk, 0, len(inv.Lines))
	for i, line := range inv.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		p := styled(l.row(
			cell{spanDescription, l.v(f+".description", line.Description), body},
			cell{spanQuantity, l.v(f+".quantity", string(line.Quantity)), bodyRight},
			cell{spanUnit, l.v(f+".unit", line.Unit), body},
			cell{spanUnitPrice, l.v(f+".unit_price", string(line.UnitPrice)), bodyRight},
			cell{spanTaxRate, l.v(f+".tax_rate", string(line.TaxRate)) + "%", bodyRight},
			cell{spanAmount, l.v(fmt.Sprintf("totals.lines[%d]", i), t.Lines[i]), bodyRight},
		), rule)
		if i == 0 {
			chunks = append(chunks, chunk{rows: block{spacer(8), head(), p}})
			continue
		}
		chunks = append(chunks, chunk{rows: block{p}, repeat: head})
	}
	return chunks
}

func (l *layout) tableHead(currency string) part {
	right := labelBold
	right.right = true
	cur := l.v("currency", currency)
	return styled(l.row(
		cell{spanDescription, "Description", labelBold},
		cell{spanQuantity, "Qty", right},
		cell{spanUnit, "Unit", labelBold},
		cell{spanUnitPrice, "Unit price (" + cur + ")", right},
		cell{spanTaxRate, "Tax rate", right},
		cell{spanAmount, "Amount (" + cur + ")", right},
	), &props.Cell{BackgroundColor: &lightGrey})
}

// totals prints the sums right-aligned under the amount column, the tax per rate
// first, as EN 16931 invoices show it.
func (l *layout) totals(currency string, t gateway.Totals) block {
	money := func(field, amount string) string { return l.v("currency", currency) + " " + l.v(field, amount) }
	sum := func(name, amount string, st style) part {
		value := st
		value.right = true
		return l.row(cell{12, "", body}, cell{7, name, st}, cell{5, amount, value})
	}
	b := block{spacer(3), sum("Subtotal", money("totals.subtotal", t.Subtotal), body)}
	for i, r := range t.TaxRates {
		f := fmt.Sprintf("totals.tax_breakdown[%d]", i)
		name := fmt.Sprintf("Tax %s%% on %s", l.v(f+".rate", r.Rate), money(f+".taxable", r.Taxable))
		b = append(b, sum(name, money(f+".tax", r.Tax), body))
	}
	return append(b,
		sum("Tax", money("totals.tax", t.Tax), body),
		sum("Total", money("totals.total", t.Total), bodyBold),
		spacer(1),
		styled(sum("Amount due", money("totals.amount_due", t.AmountDue), style{size: sizeHeading, bold: true}),
			&props.Cell{BorderType: border.Top, BorderColor: &grey, BorderThickness: 0.3}),
	)
}

func (l *layout) payment(p *gateway.Payment) block {
	if p == nil || (p.IBAN == "" && p.BIC == "" && p.Reference == "") {
		return nil
	}
	b := l.heading("Payment")
	for _, f := range []struct{ name, field, value string }{
		{"IBAN", "payment.iban", p.IBAN},
		{"BIC", "payment.bic", p.BIC},
		{"Reference", "payment.reference", p.Reference},
	} {
		if f.value != "" {
			b = append(b, l.row(cell{4, f.name, body}, cell{20, l.v(f.field, f.value), bodyBold}))
		}
	}
	return b
}
