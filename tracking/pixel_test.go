package tracking

import (
	"bytes"
	"image/gif"
	"testing"
)

func TestPixelGIF(t *testing.T) {
	data := PixelGIF()
	if len(data) != 43 {
		t.Errorf("len(PixelGIF()) = %d, want 43", len(data))
	}
	img, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gif.Decode(PixelGIF()) error = %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Errorf("bounds = %v, want 1x1", b)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("pixel alpha = %d, want 0 (transparent)", a)
	}
}

func TestPixelGIFReturnsAFreshCopy(t *testing.T) {
	first := PixelGIF()
	first[0] = 'X'
	if second := PixelGIF(); second[0] != 'G' {
		t.Errorf("PixelGIF()[0] = %q after a caller changed its copy, want 'G'", second[0])
	}
}
