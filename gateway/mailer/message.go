package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/invoicegw/invoicegw/gateway"
)

// Builder composes the exact bytes of an invoice message. It holds no state.
type Builder struct{}

var _ gateway.MessageBuilder = Builder{}

// BuildMessage composes m as MIME with CRLF line ends and, when m.DKIM is set, signs
// it. The result is what gets archived and what every attempt transmits, so it is
// built once per delivery. Errors: KindInvalid for a bad address or DKIM key.
func (Builder) BuildMessage(m gateway.Mail) ([]byte, error) {
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg, err := newMsg(m, date)
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInvalid, err, "the message cannot be composed")
	}
	if m.ReadReceiptTo != "" {
		if err := msg.RequestMDNTo(m.ReadReceiptTo); err != nil {
			return nil, gateway.Wrap(gateway.KindInvalid, fmt.Errorf("compose message: read receipt address %q: %w", m.ReadReceiptTo, err),
				"the read receipt address is not valid")
		}
	}
	var buf bytes.Buffer
	buf.Grow(messageSize(m))
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("compose message: %w", err)
	}
	raw := crlf(buf.Bytes())
	if m.DKIM == nil {
		return raw, nil
	}
	return SignDKIM(raw, *m.DKIM)
}

// SignDKIM prepends a DKIM-Signature (relaxed/relaxed) over the usual headers.
func SignDKIM(raw []byte, key gateway.DKIMKey) ([]byte, error) {
	signer, err := ParseDKIMKey(key.PrivateKey)
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInvalid, err, "the DKIM private key is not usable")
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 1024)
	err = dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain:                 key.Domain,
		Selector:               key.Selector,
		Signer:                 signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
			"MIME-Version", "Content-Type", "Disposition-Notification-To"},
	})
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInvalid, fmt.Errorf("dkim sign: %w", err), "the message cannot be DKIM-signed")
	}
	return out.Bytes(), nil
}

// ParseDKIMKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
func ParseDKIMKey(pemText string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("dkim key: no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return checkRSA(k)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return checkRSA(k)
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("dkim key: %T is neither RSA nor Ed25519", k)
	}
}

func checkRSA(k *rsa.PrivateKey) (crypto.Signer, error) {
	// RFC 8301: verifiers must not accept keys below 1024 bits.
	if k.N.BitLen() < 1024 {
		return nil, fmt.Errorf("dkim key: RSA key of %d bits is too short (at least 1024, better 2048)", k.N.BitLen())
	}
	return k, nil
}

// messageSize estimates the composed size of m, so the buffer is allocated once
// instead of doubling through a PDF's worth of base64: the attachments grow by 4/3
// plus line ends, both bodies are quoted-printable, and headers and MIME boundaries
// take a few kilobytes.
func messageSize(m gateway.Mail) int {
	n := 4096 + 2*(len(m.Text)+len(m.HTML))
	for _, a := range m.Attachments {
		n += len(a.Data)*4/3 + len(a.Data)/38 + 512
	}
	return n
}

// crlf turns bare LFs into CRLF, so the archived bytes are byte for byte what SMTP
// carries (the DATA writer would convert them otherwise). go-mail already ends its
// lines with CRLF, so usually b comes back as it is, without a copy.
func crlf(b []byte) []byte {
	if !hasBareLF(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/50)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func hasBareLF(b []byte) bool {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
