package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/render"
)

const renderUsage = "usage: invoicegw render [--locale en|de|fr|es|nl] [--terms-file FILE] invoice.json > invoice.pdf\n"

// renderCmd prints an invoice payload to PDF locally, through the same decoding,
// validation and totals as POST /v1/invoices, so that templates and payloads can be
// previewed without a running gateway. "-" reads the payload from stdin.
func renderCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, renderUsage); fs.PrintDefaults() }
	locale := fs.String("locale", "", "print in this language instead of the payload's locale")
	termsFile := fs.String("terms-file", "", "terms printed when the payload has none (stands in for the tenant's default terms)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	var body []byte
	var err error
	if path := fs.Arg(0); path == "-" {
		body, err = io.ReadAll(stdin)
	} else {
		body, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("render: read invoice: %w", err)
	}
	var defaultTerms string
	if *termsFile != "" {
		b, err := os.ReadFile(*termsFile)
		if err != nil {
			return fmt.Errorf("render: read terms: %w", err)
		}
		defaultTerms = string(b)
	}

	doc, err := previewDocument(body, *locale, defaultTerms)
	if err == nil {
		var r *render.Renderer
		if r, err = render.New(); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		var pdf []byte
		if pdf, err = r.RenderInvoice(doc); err == nil {
			_, err = stdout.Write(pdf)
			return err
		}
	}
	return reportInvoiceError(stderr, err)
}

// previewDocument decodes and validates a payload as intake does, and resolves
// its terms: the payload's own, else the default terms.
func previewDocument(body []byte, locale, defaultTerms string) (gateway.Document, error) {
	inv, err := gateway.DecodeInvoice(body)
	if err != nil {
		return gateway.Document{}, err
	}
	if locale != "" {
		inv.Locale = locale
	}
	totals, err := inv.Validate()
	if err != nil {
		return gateway.Document{}, err
	}
	terms, source := inv.Terms, "invoice"
	if terms == "" {
		terms, source = defaultTerms, "tenant"
	}
	if strings.TrimSpace(terms) == "" {
		return gateway.Document{}, &gateway.Error{Kind: gateway.KindInvalid, Message: "the invoice has no terms and conditions",
			Fields: []gateway.FieldError{{Field: "terms", Code: "required",
				Message: "every invoice prints its terms and conditions: send terms, or pass --terms-file"}}}
	}
	sum := sha256.Sum256([]byte(terms))
	termsSHA := hex.EncodeToString(sum[:])
	var names []string
	for _, a := range inv.Attachments {
		names = append(names, a.Filename)
	}
	return gateway.Document{InvoiceID: "preview", Invoice: *inv, Totals: totals, Terms: terms, TermsSHA256: termsSHA,
		TermsVersion: source + "-" + termsSHA[:12], Attachments: names}, nil
}

// reportInvoiceError writes a gateway error as the API's problem document would
// carry it: the message, then one "field<TAB>code<TAB>message" line per field.
func reportInvoiceError(stderr io.Writer, err error) error {
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return fmt.Errorf("render: %w", err)
	}
	fmt.Fprintf(stderr, "invoicegw render: %s (%s)\n", ge.Message, ge.Kind)
	for _, f := range ge.Fields {
		fmt.Fprintf(stderr, "%s\t%s\t%s\n", f.Field, f.Code, f.Message)
	}
	return errReported
}
