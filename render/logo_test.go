package render_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/render/pdftest"
)

func TestRenderInvoicePrintsTheLogo(t *testing.T) {
	encode := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	rgb := image.NewNRGBA(image.Rect(0, 0, 60, 20))
	deep := image.NewNRGBA64(image.Rect(0, 0, 60, 20))
	for y := range 20 {
		for x := range 60 {
			rgb.Set(x, y, color.NRGBA{R: uint8(x * 4), G: 90, B: 200, A: 255})
			deep.Set(x, y, color.NRGBA64{R: uint16(x * 1000), G: 9000, B: 50000, A: 0xffff})
		}
	}
	tests := []struct {
		name string
		logo []byte
	}{
		{"prints a PNG logo", encode(func(b *bytes.Buffer) error { return png.Encode(b, rgb) })},
		{"prints a JPEG logo", encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgb, nil) })},
		{"prints a 16-bit PNG logo, which gofpdf cannot embed as it is", encode(func(b *bytes.Buffer) error { return png.Encode(b, deep) })},
	}
	r := newRenderer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := fixture(t, "bhd") // no QR code: the logo is the only image
			inv.Seller.Logo = &gateway.Logo{Data: gateway.Blob{Bytes: tt.logo}}
			pdf := mustRender(t, r, document(t, inv))
			pdftest.Check(t, pdf)
			got := pdftest.Images(t, pdf)
			if !slices.ContainsFunc(got, func(i pdftest.Image) bool { return i.Page == 1 && i.Width == 60 && i.Height == 20 }) {
				t.Errorf("got images %+v, want the 60x20 logo on page 1", got)
			}
		})
	}
}
