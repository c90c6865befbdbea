package render

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// ptToMM converts a font size in points to millimetres, the unit maroto lays out in.
const ptToMM = 25.4 / 72

// face is what layout needs to know about one embedded font: which characters it
// can draw and how wide they are.
type face struct {
	// widths holds the advance of every drawable rune in thousandths of an em,
	// rounded exactly as gofpdf rounds them, so that our line breaks are the ones
	// gofpdf would measure. Only the Basic Multilingual Plane is considered:
	// gofpdf's UTF-8 font tables and its ToUnicode map are 16-bit, so a rune above
	// U+FFFF could not be printed and extracted correctly even if the font had it.
	widths map[rune]int
}

// newFace parses a TrueType font and tabulates its character widths. It is done
// once, at start-up, so that rendering needs no font parsing of its own and the
// table can be shared by concurrent renders without locking.
func newFace(ttf []byte) (*face, error) {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	upem := int(f.UnitsPerEm())
	if upem <= 0 {
		return nil, errors.New("parse font: units per em is not positive")
	}
	var buf sfnt.Buffer
	widths := make(map[rune]int, 1024)
	for r := rune(0); r <= 0xFFFF; r++ {
		if !utf8.ValidRune(r) || unicode.IsControl(r) {
			continue // surrogates and controls are never printable text
		}
		idx, err := f.GlyphIndex(&buf, r)
		if err != nil {
			return nil, fmt.Errorf("look up glyph for %U: %w", r, err)
		}
		if idx == 0 {
			continue // glyph 0 is .notdef: the font has no drawing for r
		}
		// At ppem == units per em the advance comes back in font units, unscaled.
		adv, err := f.GlyphAdvance(&buf, idx, fixed.Int26_6(upem<<6), font.HintingNone)
		if err != nil {
			return nil, fmt.Errorf("read advance for %U: %w", r, err)
		}
		widths[r] = int(float64(adv)/64*1000/float64(upem) + 0.5)
	}
	if len(widths) == 0 {
		return nil, errors.New("parse font: the font draws no characters")
	}
	return &face{widths: widths}, nil
}

// covers reports whether the font can draw r.
func (f *face) covers(r rune) bool {
	_, ok := f.widths[r]
	return ok
}

// units returns the width of s in thousandths of an em.
func (f *face) units(s string) int {
	w := 0
	for _, r := range s {
		w += f.widths[r]
	}
	return w
}

// wrap breaks s into lines no wider than width millimetres at size points. Like
// maroto, it breaks at spaces and collapses runs of them; unlike maroto, it also
// breaks a word that is wider than the line (an IBAN, a URL, a long SKU), which
// would otherwise run over the next column or off the page.
func (f *face) wrap(s string, size, width float64) []string {
	// Compare in integer font units: exact, and the same sums gofpdf computes.
	maxUnits := int(width / (size * ptToMM) * 1000)
	space := f.units(" ")
	var (
		lines []string
		line  strings.Builder
		used  int
	)
	flush := func() {
		if line.Len() > 0 {
			lines = append(lines, line.String())
			line.Reset()
			used = 0
		}
	}
	for word := range strings.SplitSeq(s, " ") {
		if word == "" {
			continue
		}
		w := f.units(word)
		if line.Len() > 0 && used+space+w <= maxUnits {
			line.WriteByte(' ')
			line.WriteString(word)
			used += space + w
			continue
		}
		flush()
		for w > maxUnits {
			head, tail := f.cut(word, maxUnits)
			lines = append(lines, head)
			word, w = tail, f.units(tail)
		}
		line.WriteString(word)
		used = w
	}
	flush()
	return lines
}

// cut splits word after as many runes as fit in maxUnits, and always after at least
// one, so that wrapping ends even in a column narrower than a single character.
func (f *face) cut(word string, maxUnits int) (head, tail string) {
	used := 0
	for i, r := range word {
		used += f.widths[r]
		if used > maxUnits && i > 0 {
			return word[:i], word[i:]
		}
	}
	return word, ""
}
