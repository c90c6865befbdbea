package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/invoicegw/invoicegw/gateway"
)

//go:embed email/*.tmpl page/*.tmpl
var files embed.FS

// Names of the page templates inside the page set; the set shares the "style" block.
const (
	pageInvoice  = "invoice.html.tmpl"
	pageNotFound = "notfound.html.tmpl"
)

// Templates holds every parsed template. It is safe for concurrent use: executing a
// parsed template does not modify it.
type Templates struct {
	subject   *texttemplate.Template
	text      *texttemplate.Template
	emailHTML *htmltemplate.Template
	pages     *htmltemplate.Template
	collector *collectorSet
}

var _ gateway.Composer = (*Templates)(nil)

// New parses all embedded templates and executes each once with sample data, so that a
// syntax error or a reference to a field that does not exist stops start-up instead of
// failing the first delivery.
func New() (*Templates, error) {
	t, err := parse(files)
	if err != nil {
		return nil, err
	}
	if t.collector, err = parseCollector(collectorFiles); err != nil {
		return nil, err
	}
	return t, nil
}

// parse is New over any file system, so tests can prove that a broken file is caught.
func parse(fsys fs.FS) (*Templates, error) {
	t := &Templates{}
	var err error
	if t.subject, err = texttemplate.ParseFS(fsys, "email/subject.txt.tmpl"); err != nil {
		return nil, fmt.Errorf("parse subject template: %w", err)
	}
	if t.text, err = texttemplate.ParseFS(fsys, "email/invoice.txt.tmpl"); err != nil {
		return nil, fmt.Errorf("parse e-mail text template: %w", err)
	}
	if t.emailHTML, err = htmltemplate.ParseFS(fsys, "email/invoice.html.tmpl"); err != nil {
		return nil, fmt.Errorf("parse e-mail html template: %w", err)
	}
	if t.pages, err = htmltemplate.ParseFS(fsys, "page/*.tmpl"); err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	if err := t.selfCheck(); err != nil {
		return nil, err
	}
	return t, nil
}

// selfCheck executes every template with data that takes every branch.
func (t *Templates) selfCheck() error {
	email := gateway.EmailData{
		ContactName: "x", SellerName: "x", InvoiceNumber: "x", AmountDue: "x", DueDate: "x",
		LinkURL: "https://example.invalid/l", PixelURL: "https://example.invalid/p", HoneypotURL: "https://example.invalid/h",
	}
	if _, _, _, err := t.InvoiceEmail(email); err != nil {
		return fmt.Errorf("check e-mail templates: %w", err)
	}
	page := gateway.PageData{
		InvoiceNumber: "x", SellerName: "x", CustomerName: "x", ContactName: "x",
		IssueDate: "x", DueDate: "x", Currency: "x", Subtotal: "x", Tax: "x", AmountDue: "x",
		Lines: []gateway.PageLine{{Description: "x", Quantity: "x", UnitPrice: "x", TaxRate: "x", Amount: "x"}},
		Terms: "x", PDFURL: "https://example.invalid/d",
		Form: gateway.PageForm{ConfirmURL: "/c", QueryURL: "/q", CSRF: "x", Name: "x", Message: "x", Done: "query",
			General: "x", Errors: map[string]string{"form": "query", "name": "x", "message": "x"}},
	}
	if err := t.Page(io.Discard, page); err != nil {
		return fmt.Errorf("check page template: %w", err)
	}
	if err := t.NotFound(io.Discard); err != nil {
		return fmt.Errorf("check not-found template: %w", err)
	}
	return nil
}

// InvoiceEmail returns the subject, plain-text body and HTML body of the e-mail that
// carries one invoice to one recipient, in d.Locale, in the tenant's own wording when
// d.Template is set. Errors are gateway.KindInternal: the data is typed and tenant
// templates are checked when saved, so a failure here is a bug, not bad input.
func (t *Templates) InvoiceEmail(d gateway.EmailData) (subject, text, html string, err error) {
	var custom *customEmail
	if d.Template != nil {
		var bad map[string]string
		if custom, bad = parseCustom(*d.Template); len(bad) > 0 {
			return "", "", "", gateway.Errorf(gateway.KindInternal, "tenant e-mail template does not parse: %v", bad)
		}
	}
	return t.invoiceEmail(d, custom)
}

func (t *Templates) invoiceEmail(d gateway.EmailData, custom *customEmail) (subject, text, html string, err error) {
	v := newEmailView(d)
	subj, txt, htm := texttemplateExec(t.subject), texttemplateExec(t.text), htmltemplateExec(t.emailHTML)
	if custom != nil {
		if custom.subject != nil {
			subj = texttemplateExec(custom.subject)
		}
		if custom.text != nil {
			txt = texttemplateExec(custom.text)
		}
		if custom.html != nil {
			htm = htmltemplateExec(custom.html)
		}
	}
	var b strings.Builder
	if err := subj(&b, v); err != nil {
		return "", "", "", gateway.Wrap(gateway.KindInternal, err, "compose invoice e-mail subject")
	}
	subject = headerSafe(b.String())

	b.Reset()
	// The text part never carries the pixel: plain text cannot load images, and a URL
	// that is only there to be fetched would read as noise to the recipient.
	if err := txt(&b, v); err != nil {
		return "", "", "", gateway.Wrap(gateway.KindInternal, err, "compose invoice e-mail text")
	}
	text = b.String()

	b.Reset()
	if err := htm(&b, v); err != nil {
		return "", "", "", gateway.Wrap(gateway.KindInternal, err, "compose invoice e-mail html")
	}
	html = b.String()
	return subject, text, html, nil
}

func texttemplateExec(t *texttemplate.Template) func(io.Writer, any) error { return t.Execute }
func htmltemplateExec(t *htmltemplate.Template) func(io.Writer, any) error { return t.Execute }

// Page writes the hosted invoice page for its recipient.
func (t *Templates) Page(w io.Writer, d gateway.PageData) error {
	return t.writePage(w, pageInvoice, d)
}

// NotFound writes the page shown for an unknown, malformed or expired link. It says
// nothing about why, so that it does not help anyone guess tokens.
func (t *Templates) NotFound(w io.Writer) error {
	return t.writePage(w, pageNotFound, nil)
}

// writePage renders into memory first: a template that fails halfway must not leave
// a truncated page behind a status line that already said 200.
func (t *Templates) writePage(w io.Writer, name string, data any) error {
	return writeTemplate(w, t.pages, name, data)
}

func writeTemplate(w io.Writer, set *htmltemplate.Template, name string, data any) error {
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("execute %s: %w", name, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// headerSafe turns s into one line fit for a mail header. Intake already rejects CR
// and LF, but the subject is built from several client fields and a header injection
// is costly enough to defend against twice: every control character becomes a space,
// and runs of white space collapse to one.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
