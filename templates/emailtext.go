package templates

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/invoicegw/invoicegw/gateway"
)

// emailText is the wording of the built-in invoice e-mail in one language. Entries
// with verbs are fmt formats with explicit argument indexes, because word order
// differs between languages.
type emailText struct {
	Lang          string
	Dear          string // %[1]s: contact name
	DearNoName    string
	SentYou       string // %[1]s: seller, %[2]s: invoice number
	InvoiceNumber string
	AmountDue     string
	DueDate       string
	Attached      string
	ViewOnline    string
	Button        string
	CopyLink      string
	Regards       string
	Subject       string // %[1]s number, %[2]s seller, %[3]s amount due, %[4]s due date
}

// emailTexts holds every language the PDF is printed in (gateway.Locales).
var emailTexts = map[string]emailText{
	"en": {Lang: "en", Dear: "Dear %[1]s,", DearNoName: "Hello,", SentYou: "%[1]s has sent you invoice %[2]s.",
		InvoiceNumber: "Invoice number", AmountDue: "Amount due", DueDate: "Due date",
		Attached: "The invoice is attached to this e-mail as a PDF.", ViewOnline: "View the invoice online:",
		Button: "View invoice", CopyLink: "If the button does not work, copy this address into your browser:",
		Regards: "Kind regards,", Subject: "Invoice %[1]s from %[2]s: %[3]s due %[4]s"},
	"de": {Lang: "de", Dear: "Guten Tag %[1]s,", DearNoName: "Guten Tag,", SentYou: "%[1]s hat Ihnen die Rechnung %[2]s gesendet.",
		InvoiceNumber: "Rechnungsnummer", AmountDue: "Offener Betrag", DueDate: "Fällig am",
		Attached: "Die Rechnung ist dieser E-Mail als PDF beigefügt.", ViewOnline: "Rechnung online ansehen:",
		Button: "Rechnung ansehen", CopyLink: "Falls die Schaltfläche nicht funktioniert, kopieren Sie diese Adresse in Ihren Browser:",
		Regards: "Mit freundlichen Grüßen", Subject: "Rechnung %[1]s von %[2]s: %[3]s fällig am %[4]s"},
	"fr": {Lang: "fr", Dear: "Bonjour %[1]s,", DearNoName: "Bonjour,", SentYou: "%[1]s vous a envoyé la facture %[2]s.",
		InvoiceNumber: "Numéro de facture", AmountDue: "Montant dû", DueDate: "Date d'échéance",
		Attached: "La facture est jointe à cet e-mail au format PDF.", ViewOnline: "Voir la facture en ligne :",
		Button: "Voir la facture", CopyLink: "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :",
		Regards: "Cordialement,", Subject: "Facture %[1]s de %[2]s : %[3]s à régler avant le %[4]s"},
	"es": {Lang: "es", Dear: "Estimado/a %[1]s:", DearNoName: "Hola:", SentYou: "%[1]s le ha enviado la factura %[2]s.",
		InvoiceNumber: "Número de factura", AmountDue: "Importe pendiente", DueDate: "Fecha de vencimiento",
		Attached: "La factura se adjunta a este correo en formato PDF.", ViewOnline: "Ver la factura en línea:",
		Button: "Ver factura", CopyLink: "Si el botón no funciona, copie esta dirección en su navegador:",
		Regards: "Saludos cordiales,", Subject: "Factura %[1]s de %[2]s: %[3]s con vencimiento el %[4]s"},
	"nl": {Lang: "nl", Dear: "Beste %[1]s,", DearNoName: "Goedendag,", SentYou: "%[1]s heeft u factuur %[2]s gestuurd.",
		InvoiceNumber: "Factuurnummer", AmountDue: "Te betalen", DueDate: "Vervaldatum",
		Attached: "De factuur is als pdf bij deze e-mail gevoegd.", ViewOnline: "Bekijk de factuur online:",
		Button: "Factuur bekijken", CopyLink: "Werkt de knop niet? Kopieer dit adres naar uw browser:",
		Regards: "Met vriendelijke groet,", Subject: "Factuur %[1]s van %[2]s: %[3]s te betalen op %[4]s"},
}

// emailView is what the e-mail templates execute on: the data plus its language's
// wording, already filled in.
type emailView struct {
	gateway.EmailData
	T        emailText
	Greeting string // "Dear Jane Doe,"
	Intro    string // "Acme has sent you invoice INV-1."
	Subject  string // the built-in subject line
}

func newEmailView(d gateway.EmailData) emailView {
	t, ok := emailTexts[d.Locale]
	if !ok {
		t = emailTexts["en"]
	}
	v := emailView{EmailData: d, T: t}
	v.Greeting = t.DearNoName
	if strings.TrimSpace(d.ContactName) != "" {
		v.Greeting = fmt.Sprintf(t.Dear, d.ContactName)
	}
	v.Intro = fmt.Sprintf(t.SentYou, d.SellerName, d.InvoiceNumber)
	v.Subject = fmt.Sprintf(t.Subject, d.InvoiceNumber, d.SellerName, d.AmountDue, d.DueDate)
	return v
}

// customEmail is a tenant's own template set, parsed for one use. Tenant templates
// are checked when saved (CheckTemplate), so a failure here is unexpected.
type customEmail struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

func parseCustom(t gateway.EmailTemplate) (*customEmail, map[string]string) {
	c := &customEmail{}
	bad := map[string]string{}
	var err error
	if t.Subject != "" {
		if c.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(t.Subject); err != nil {
			bad["subject"] = err.Error()
		}
	}
	if t.Text != "" {
		if c.text, err = texttemplate.New("text").Option("missingkey=error").Parse(t.Text); err != nil {
			bad["text"] = err.Error()
		}
	}
	if t.HTML != "" {
		if c.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(t.HTML); err != nil {
			bad["html"] = err.Error()
		}
	}
	return c, bad
}

// CheckTemplate parses a tenant template and executes it on sample data, so a
// mistake is reported when the tenant saves it, not when an invoice goes out.
func (t *Templates) CheckTemplate(tmpl gateway.EmailTemplate) map[string]string {
	c, bad := parseCustom(tmpl)
	if len(bad) > 0 {
		return bad
	}
	sample := gateway.EmailData{Locale: "en", ContactName: "Jane Doe", SellerName: "Acme", InvoiceNumber: "INV-1",
		AmountDue: "EUR 1.00", DueDate: "2026-12-23", LinkURL: "https://example.invalid/l",
		PixelURL: "https://example.invalid/p", Attached: true, Template: &tmpl}
	_, _, _, err := t.invoiceEmail(sample, c)
	if err != nil {
		return map[string]string{"template": err.Error()}
	}
	return nil
}
