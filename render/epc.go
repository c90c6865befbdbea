package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"unicode/utf8"

	qrcode "github.com/piglig/go-qr"

	"github.com/shopspring/decimal"

	"github.com/invoicegw/invoicegw/gateway"
)

// epcPayload is the text of the EPC QR code ("GiroCode", EPC069-12 version 002)
// for a SEPA credit transfer of the amount due: service tag, version, character
// set (1 = UTF-8), identification, BIC, beneficiary name, IBAN, amount, purpose,
// structured reference, unstructured remittance text. There is none unless the
// invoice is in euro, names an IBAN, and has an amount due the standard allows.
func epcPayload(inv gateway.Invoice, t gateway.Totals) (string, bool) {
	p := inv.Payment
	if p == nil || p.IBAN == "" || inv.Currency != "EUR" {
		return "", false
	}
	due, err := decimal.NewFromString(t.AmountDue)
	if err != nil || due.LessThan(decimal.New(1, -2)) || due.GreaterThan(decimal.RequireFromString("999999999.99")) {
		return "", false
	}
	ref := p.Reference
	if ref == "" {
		ref = inv.Number
	}
	structured, text := "", truncate(ref, 140)
	if isCreditorReference(ref) {
		structured, text = ref, ""
	}
	lines := []string{
		"BCD", "002", "1", "SCT",
		strings.ReplaceAll(p.BIC, " ", ""),
		truncate(inv.Seller.Name, 70),
		strings.ReplaceAll(p.IBAN, " ", ""),
		"EUR" + due.StringFixed(2),
		"", // purpose code
		structured,
		text,
	}
	return strings.Join(lines, "\n"), true
}

// isCreditorReference reports whether s is an ISO 11649 creditor reference
// ("RF18 5390 0754 7034"), which the EPC code carries in its structured field.
func isCreditorReference(s string) bool {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) < 5 || len(s) > 25 || !strings.HasPrefix(s, "RF") {
		return false
	}
	rearranged := s[4:] + s[:4]
	rem := 0
	for _, c := range rearranged {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// truncate cuts s to at most n characters, never inside a UTF-8 sequence.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// formatAmount writes an amount the client sent with exactly the currency's
// decimals ("5" -> "5.00" in EUR), as the computed totals are written.
func formatAmount(cur gateway.Currency, amount string) string {
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return amount
	}
	return cur.Format(d)
}

// qrQuietZone is the blank margin, in modules, that the QR standard asks for.
const qrQuietZone = 4

// qrPNG encodes text as a QR code at error correction level M (what EPC069-12
// asks for, and never boosted above it) in byte mode, and draws it as an 8-bit
// grey PNG with one pixel per module: the PDF scales it without smoothing.
// piglig/go-qr (Nayuki's encoder) rather than maroto's boombuler/barcode: the
// latter spent ~10 ms choosing the mask, a fifth of a render. gofpdf embeds the
// PNG's compressed data as it is, so enc should compress (and reuse its
// compressor: setting one up cost more than encoding the image).
func qrPNG(enc *png.Encoder, text string) ([]byte, error) {
	segs, err := qrcode.MakeBytes([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("qr segments: %w", err)
	}
	q, err := qrcode.EncodeSegments([]*qrcode.QrSegment{segs}, qrcode.Medium, 1, 40, -1, false)
	if err != nil {
		return nil, fmt.Errorf("qr encode: %w", err)
	}
	n := q.Size() + 2*qrQuietZone
	img := image.NewGray(image.Rect(0, 0, n, n))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := range q.Size() {
		for x := range q.Size() {
			if q.Module(x, y) {
				img.SetGray(x+qrQuietZone, y+qrQuietZone, color.Gray{})
			}
		}
	}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr png: %w", err)
	}
	return buf.Bytes(), nil
}

// pngBuffers lets PNG encoders reuse their compressors across renders.
type pngBuffers struct{ pool sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	buf, _ := b.pool.Get().(*png.EncoderBuffer)
	return buf
}

func (b *pngBuffers) Put(buf *png.EncoderBuffer) { b.pool.Put(buf) }
