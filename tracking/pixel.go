package tracking

// PixelContentType is the media type of PixelGIF.
const PixelContentType = "image/gif"

// PixelGIF returns the open pixel: the smallest valid 1x1 transparent GIF (43 bytes).
// Each call returns a fresh slice, so no caller can alter what another one sends.
func PixelGIF() []byte {
	return []byte{
		'G', 'I', 'F', '8', '9', 'a', // header
		0x01, 0x00, 0x01, 0x00, // logical screen 1x1
		0x80, 0x00, 0x00, // global colour table of 2 entries, background 0
		0xff, 0xff, 0xff, 0x00, 0x00, 0x00, // colours: white, black
		0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, // graphic control: colour 0 is transparent
		0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image 1x1 at 0,0
		0x02, 0x02, 0x44, 0x01, 0x00, // LZW: clear, pixel 0, end
		0x3b, // trailer
	}
}
