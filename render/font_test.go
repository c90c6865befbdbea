package render

import (
	"math"
	"slices"
	"testing"

	"github.com/phpdave11/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

func TestFaceWrap(t *testing.T) {
	f, err := newFace(goregular.TTF)
	if err != nil {
		t.Fatalf("newFace: %v", err)
	}
	const size = 10.0
	// mm returns the width of s in millimetres at size, plus a hair for float rounding.
	mm := func(s string) float64 { return float64(f.units(s))*size*ptToMM/1000 + 0.001 }

	tests := []struct {
		name  string
		text  string
		width float64
		want  []string
	}{
		{"keeps text that fits on one line", "pay within 30 days", mm("pay within 30 days"), []string{"pay within 30 days"}},
		{"breaks at the last space that fits", "pay within 30 days", mm("pay within"), []string{"pay within", "30 days"}},
		{"collapses runs of spaces", "  pay   within  ", mm("pay within"), []string{"pay within"}},
		{"breaks a word wider than the line", "DE89370400440532013000", mm("DE8937040"), []string{"DE8937040", "044053201", "3000"}},
		{"puts at least one character on a line narrower than it", "WW", mm("W") / 2, []string{"W", "W"}},
		{"returns no lines for blank text", "   ", 50, nil},
		{"keeps Greek and Cyrillic words whole", "Ελληνική Εταιρεία", mm("Ελληνική "), []string{"Ελληνική", "Εταιρεία"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.wrap(tt.text, size, tt.width); !slices.Equal(got, tt.want) {
				t.Errorf("wrap(%q, %.3f mm): got %q, want %q", tt.text, tt.width, got, tt.want)
			}
		})
	}
}

func TestFaceCovers(t *testing.T) {
	f, err := newFace(goregular.TTF)
	if err != nil {
		t.Fatalf("newFace: %v", err)
	}
	tests := []struct {
		name string
		r    rune
		want bool
	}{
		{"draws Latin with diacritics", 'Ł', true},
		{"draws Greek", 'Ε', true},
		{"draws Cyrillic", 'Ж', true},
		{"draws the euro sign", '€', true},
		{"lacks Chinese", '\u4e2d', false},
		{"lacks emoji", '\U0001F600', false},
		{"never prints control characters", '\n', false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.covers(tt.r); got != tt.want {
				t.Errorf("covers(%U): got %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}

// TestFaceMeasuresLikeGofpdf guards the assumption wrap rests on: our widths are
// the ones gofpdf uses when it draws and when maroto decides where lines break.
func TestFaceMeasuresLikeGofpdf(t *testing.T) {
	tests := []struct {
		name  string
		style string
		ttf   []byte
		text  string
	}{
		{"measures Latin text in regular", "", goregular.TTF, "Payment due within 30 days of the invoice date."},
		{"measures Greek, Cyrillic and diacritics in regular", "", goregular.TTF, "Ελληνική Εταιρεία, ООО Ромашка, Zoë Łukasiewicz"},
		{"measures digits and symbols in bold", "B", gobold.TTF, "EUR 3,812.68 € 19% (INV-2026-0042)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFace(tt.ttf)
			if err != nil {
				t.Fatalf("newFace: %v", err)
			}
			pdf := gofpdf.New("P", "mm", "A4", "")
			pdf.AddUTF8FontFromBytes(fontFamily, tt.style, tt.ttf)
			pdf.SetFont(fontFamily, tt.style, sizeBody)
			want := pdf.GetStringWidth(tt.text)
			got := float64(f.units(tt.text)) * sizeBody * ptToMM / 1000
			if math.Abs(got-want) > 1e-6 {
				t.Errorf("width of %q: got %.6f mm, want gofpdf's %.6f mm", tt.text, got, want)
			}
		})
	}
}
