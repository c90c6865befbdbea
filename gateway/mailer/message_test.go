package mailer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
)

func TestCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no line end", "no line end"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"\nfirst", "\r\nfirst"},
		{"mixed\r\nbare\nend\r\n", "mixed\r\nbare\r\nend\r\n"},
		{"lone CR\rstays\r\n", "lone CR\rstays\r\n"},
	}
	for _, tt := range tests {
		if got := string(crlf([]byte(tt.in))); got != tt.want {
			t.Errorf("crlf(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBuildMessageEndsEveryLineWithCRLF: what is archived is what SMTP carries, so
// the composed message must have no bare LF, whatever line ends the texts and the
// attachment came with, and the estimate must hold the whole message.
func TestBuildMessageEndsEveryLineWithCRLF(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7\n\x00\xff\r\n.\n"), 5000)
	m := gateway.Mail{
		MessageID: "dlv_01JT9Z3Q8X@gw.example",
		From:      gateway.Contact{Name: "Acme Billing", Email: "billing@acme.example"},
		To:        gateway.Contact{Name: "Jane Doe", Email: "jane@customer.example"},
		Subject:   "Invoice INV-1",
		Text:      "Dear Jane,\nplease find\r\ninvoice INV-1 attached.\n",
		HTML:      "<p>Dear Jane,</p>\n<p>please find invoice INV-1 attached.</p>\n",
		Attachments: []gateway.Attachment{
			{Name: "INV-1.pdf", ContentType: "application/pdf", Data: pdf},
		},
	}
	raw, err := Builder{}.BuildMessage(m)
	if err != nil {
		t.Fatalf("BuildMessage: %v", err)
	}
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			t.Fatalf("got a bare LF at offset %d: %q", i, raw[max(0, i-20):min(len(raw), i+20)])
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("got a message ending in %q, want CRLF", raw[max(0, len(raw)-10):])
	}
	if est := messageSize(m); est < len(raw) {
		t.Errorf("got messageSize %d for a message of %d bytes, want at least its size", est, len(raw))
	}
	if !strings.Contains(string(raw), "Subject: Invoice INV-1\r\n") {
		t.Errorf("got no Subject header line in %q", raw[:min(len(raw), 400)])
	}
}
