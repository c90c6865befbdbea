package render

// The building blocks every document here is made of (invoice, statement, delivery
// certificate): styles, wrapped text cells, rows of known height, blocks kept on
// one page, and the layout that records text the fonts cannot draw.

import (
	"fmt"
	"strings"

	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/consts/align"
	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/i18n"
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
	loc      *i18n.Locale
	problems gateway.Problems
	reported map[string]bool
}

func newLayout(r *Renderer, loc *i18n.Locale) *layout {
	return &layout{r: r, loc: loc, reported: map[string]bool{}}
}

// t is the label for key in the document's language.
func (l *layout) t(key string, args ...any) string { return l.loc.T(key, args...) }

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
		spacer(4),
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
