package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/draw"
	_ "image/jpeg" // registers JPEG for image.DecodeConfig
	"image/png"
	"strings"

	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/consts/extension"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
)

// logoImage is a logo in a form gofpdf embeds.
type logoImage struct {
	data []byte
	ext  extension.Type
}

// logo checks a PNG or JPEG logo. gofpdf cannot embed interlaced or 16-bit PNGs;
// those are re-encoded (the same bytes in give the same bytes out). An image that
// does not decode is a problem for field: maroto would print an error message in
// its place, and a document must not silently differ from what was sent.
func (l *layout) logo(field string, data []byte) *logoImage {
	bad := func(msg string) *logoImage {
		if !l.reported[field] {
			l.reported[field] = true
			l.problems.Add(field, "unprintable_image", field+" "+msg)
		}
		return nil
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return bad("is not a PNG or JPEG image that can be decoded")
	}
	switch format {
	case "jpeg":
		return &logoImage{data: data, ext: extension.Jpg}
	case "png":
		// IHDR follows the 8-byte signature and the chunk's length and type.
		const ihdr = 8 + 8
		if len(data) < ihdr+13 || binary.BigEndian.Uint32(data[ihdr:]) == 0 {
			return bad("has no PNG header")
		}
		depth, interlace := data[ihdr+8], data[ihdr+12]
		if depth <= 8 && interlace == 0 {
			return &logoImage{data: data, ext: extension.Png}
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return bad("is not a PNG image that can be decoded")
		}
		// Down to 8 bits per channel, and written without interlacing.
		flat := image.NewNRGBA(img.Bounds())
		draw.Draw(flat, flat.Bounds(), img, img.Bounds().Min, draw.Src)
		var buf bytes.Buffer
		if err := png.Encode(&buf, flat); err != nil {
			return bad("could not be converted for printing")
		}
		return &logoImage{data: buf.Bytes(), ext: extension.Png}
	default:
		return bad("must be a PNG or JPEG image")
	}
}

// footer is the seller's legal footer, on every page: name, address and tax ID,
// then the registration text (court, register number, directors).
func (l *layout) footer(s gateway.Party) block {
	small := style{size: sizeSmall, color: &grey}
	a := s.Address
	parts := []string{l.v("seller.name", s.Name), l.v("seller.address.line1", a.Line1)}
	if a.Line2 != "" {
		parts = append(parts, l.v("seller.address.line2", a.Line2))
	}
	parts = append(parts, joinNonEmpty(" ", l.v("seller.address.postal_code", a.PostalCode), l.v("seller.address.city", a.City)),
		l.v("seller.address.country", a.Country))
	if s.TaxID != "" {
		parts = append(parts, l.t("invoice.tax_id", l.v("seller.tax_id", s.TaxID)))
	}
	rule := &props.Cell{BorderType: border.Top, BorderColor: &lightGrey, BorderThickness: 0.2}
	b := block{spacer(2), styled(l.row(cell{gridSize, joinNonEmpty(" · ", parts...), small}), rule)}
	if s.Registration != "" {
		b = append(b, l.row(cell{gridSize, l.v("seller.registration", s.Registration), small}))
	}
	return b
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}
