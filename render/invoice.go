package render

import (
	"fmt"
	"strings"

	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/image"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/consts/extension"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
)

// invoice lays out the whole document in the order it is printed.
func (l *layout) invoice(doc gateway.Document, logo *logoImage) []chunk {
	inv := doc.Invoice
	var chunks []chunk
	add := func(blocks ...block) {
		for _, b := range blocks {
			if len(b) > 0 {
				chunks = append(chunks, chunk{rows: b})
			}
		}
	}
	add(append(l.header(inv, logo), l.parties(inv)...))
	chunks = append(chunks, l.lines(inv, doc.Totals)...)
	add(l.totals(inv, doc.Totals))
	add(l.payment(inv, doc.Totals))
	if strings.TrimSpace(inv.Notes) != "" {
		add(section(l.heading(l.t("invoice.notes")), l.paragraphs("notes", inv.Notes, body))...)
	}
	if len(doc.Attachments) > 0 {
		var names []part
		for i, name := range doc.Attachments {
			names = append(names, l.row(cell{gridSize, "• " + l.v(fmt.Sprintf("attachments[%d].filename", i), name), body}))
		}
		add(section(l.heading(l.t("invoice.attachments")), names)...)
	}
	add(section(l.heading(l.t("invoice.terms")), l.paragraphs("terms", doc.Terms, style{size: sizeTerms}), l.termsID(doc)...)...)
	return chunks
}

// termsID prints, under the terms, which version of them this is and their hash,
// so that a dispute can name exactly the text the customer received.
func (l *layout) termsID(doc gateway.Document) []part {
	small := style{size: sizeHash, color: &grey}
	tail := []part{spacer(1.5)}
	if doc.TermsVersion != "" {
		tail = append(tail, l.row(cell{gridSize, l.t("invoice.terms_version", l.v("terms_version", doc.TermsVersion)), small}))
	}
	return append(tail, l.row(cell{gridSize, l.t("invoice.terms_sha256", l.v("terms_sha256", doc.TermsSHA256)), small}))
}

func (l *layout) header(inv gateway.Invoice, logo *logoImage) block {
	var b block
	if logo != nil {
		const h = 12.0
		img := image.NewFromBytes(logo.data, logo.ext, props.Rect{Percent: 100})
		b = append(b, part{row.New(h).Add(col.New(8).Add(img), col.New(16)), h}, spacer(2))
	}
	// Lower the number so that it shares the title's baseline.
	number := style{size: sizeNumber, bold: true, right: true, top: (sizeTitle - sizeNumber) * ptToMM}
	return append(b,
		l.row(
			cell{12, l.t("invoice.title"), style{size: sizeTitle, bold: true}},
			cell{12, l.v("number", inv.Number), number},
		),
		spacer(4),
	)
}

// parties prints the seller beside the invoice's meta data, then the customer.
func (l *layout) parties(inv gateway.Invoice) block {
	s := inv.Seller
	seller := []cell{{12, l.t("invoice.from"), label}, {12, l.v("seller.name", s.Name), bodyBold}}
	seller = append(seller, l.address("seller.address", s.Address)...)
	for _, f := range []struct{ key, field, value string }{
		{"invoice.tax_id", "seller.tax_id", s.TaxID},
		{"invoice.phone", "seller.phone", s.Phone},
		{"invoice.email", "seller.email", s.Email},
		{"invoice.website", "seller.website", s.Website},
	} {
		if f.value != "" {
			seller = append(seller, cell{12, l.t(f.key, l.v(f.field, f.value)), body})
		}
	}

	meta := [][2]string{
		{"", ""}, // level with the seller's name, under "From"
		{l.t("invoice.number"), l.v("number", inv.Number)},
		{l.t("invoice.issue_date"), l.loc.Date(inv.IssueDate.Time)},
		{l.t("invoice.due_date"), l.loc.Date(inv.DueDate.Time)},
	}
	if pt := inv.PaymentTerms; pt != nil {
		terms := l.v("payment_terms.text", pt.Text)
		if terms == "" && pt.NetDays != nil {
			terms = l.t("invoice.net_days", fmt.Sprint(*pt.NetDays))
		}
		if terms != "" {
			meta = append(meta, [2]string{l.t("invoice.payment_terms"), terms})
		}
	}
	if inv.PurchaseOrder != "" {
		meta = append(meta, [2]string{l.t("invoice.purchase_order"), l.v("purchase_order", inv.PurchaseOrder)})
	}
	if inv.CustomerReference != "" {
		meta = append(meta, [2]string{l.t("invoice.customer_reference"), l.v("customer_reference", inv.CustomerReference)})
	}
	meta = append(meta,
		[2]string{l.t("invoice.currency"), l.v("currency", inv.Currency)},
		[2]string{l.t("invoice.customer_id"), l.v("customer.id", inv.Customer.ID)},
	)

	var b block
	for i := range max(len(seller), len(meta)) {
		left := cell{12, "", body}
		if i < len(seller) {
			left = seller[i]
		}
		var m [2]string
		if i < len(meta) {
			m = meta[i]
		}
		b = append(b, l.row(left, cell{5, m[0], body}, cell{7, m[1], bodyRight}))
	}

	c := inv.Customer
	customer := []cell{
		{12, l.t("invoice.bill_to"), label},
		{12, l.v("customer.name", c.Name), bodyBold},
		{12, l.t("invoice.attn", l.v("customer.contact.name", c.Contact.Name)), body},
	}
	customer = append(customer, l.address("customer.address", c.Address)...)
	if c.TaxID != "" {
		customer = append(customer, cell{12, l.t("invoice.tax_id", l.v("customer.tax_id", c.TaxID)), body})
	}
	b = append(b, spacer(4))
	for _, c := range customer {
		b = append(b, l.row(c))
	}
	return b
}

func (l *layout) address(field string, a gateway.Address) []cell {
	out := []cell{{12, l.v(field+".line1", a.Line1), body}}
	if a.Line2 != "" {
		out = append(out, cell{12, l.v(field+".line2", a.Line2), body})
	}
	city := strings.TrimSpace(l.v(field+".postal_code", a.PostalCode) + " " + l.v(field+".city", a.City))
	out = append(out, cell{12, city, body})
	if a.Region != "" {
		out = append(out, cell{12, l.v(field+".region", a.Region), body})
	}
	return append(out, cell{12, l.v(field+".country", a.Country), body})
}

// columns are the line table's column spans; they add up to gridSize. The discount
// column is there only when some line has a discount.
type columns struct{ description, quantity, unit, unitPrice, discount, taxRate, amount int }

func tableColumns(inv gateway.Invoice) columns {
	for _, line := range inv.Lines {
		if nonZero(string(line.DiscountPercent)) {
			return columns{7, 2, 2, 3, 3, 3, 4}
		}
	}
	return columns{10, 2, 2, 3, 0, 3, 4}
}

// nonZero reports whether a validated decimal string ("0", "0.00", "10") is
// other than zero.
func nonZero(d string) bool {
	return strings.Trim(d, "0.") != ""
}

// lines is the line table. Every line is a chunk of its own, so the table breaks
// between lines, never inside one; the column titles stay with the first line and
// are repeated at the top of every page the table continues on.
func (l *layout) lines(inv gateway.Invoice, t gateway.Totals) []chunk {
	cols := tableColumns(inv)
	head := func() part { return l.tableHead(inv.Currency, cols) }
	rule := &props.Cell{BorderType: border.Bottom, BorderColor: &lightGrey, BorderThickness: 0.2}
	chunks := make([]chunk, 0, len(inv.Lines))
	for i, line := range inv.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		cells := []cell{
			{cols.description, l.v(f+".description", line.Description), body},
			{cols.quantity, l.loc.Number(l.v(f+".quantity", string(line.Quantity))), bodyRight},
			{cols.unit, l.v(f+".unit", line.Unit), body},
			{cols.unitPrice, l.loc.Number(l.v(f+".unit_price", string(line.UnitPrice))), bodyRight},
		}
		if cols.discount > 0 {
			disc := ""
			if nonZero(string(line.DiscountPercent)) {
				disc = l.loc.Percent(l.v(f+".discount_percent", string(line.DiscountPercent)))
			}
			cells = append(cells, cell{cols.discount, disc, bodyRight})
		}
		cells = append(cells,
			cell{cols.taxRate, l.taxRate(f, string(line.TaxRate), line.TaxCategory), bodyRight},
			cell{cols.amount, l.loc.Number(l.v(fmt.Sprintf("totals.lines[%d]", i), t.Lines[i])), bodyRight},
		)
		p := styled(l.row(cells...), rule)
		if i == 0 {
			chunks = append(chunks, chunk{rows: block{spacer(5), head(), p}})
			continue
		}
		chunks = append(chunks, chunk{rows: block{p}, repeat: head})
	}
	return chunks
}

// taxRate prints a rate with its VAT category when that is not the standard one:
// "19%", "0% AE".
func (l *layout) taxRate(field, rate, category string) string {
	s := l.loc.Percent(l.v(field+".tax_rate", rate))
	if category != "" && category != "S" {
		s += " " + l.v(field+".tax_category", category)
	}
	return s
}

func (l *layout) tableHead(currency string, cols columns) part {
	right := labelBold
	right.right = true
	cur := l.v("currency", currency)
	cells := []cell{
		{cols.description, l.t("invoice.description"), labelBold},
		{cols.quantity, l.t("invoice.quantity"), right},
		{cols.unit, l.t("invoice.unit"), labelBold},
		{cols.unitPrice, l.t("invoice.unit_price", cur), right},
	}
	if cols.discount > 0 {
		cells = append(cells, cell{cols.discount, l.t("invoice.discount"), right})
	}
	cells = append(cells,
		cell{cols.taxRate, l.t("invoice.tax_rate"), right},
		cell{cols.amount, l.t("invoice.amount", cur), right},
	)
	return styled(l.row(cells...), &props.Cell{BackgroundColor: &lightGrey})
}

// totals prints the sums right-aligned under the amount column: subtotal, the
// document's discounts and charges, the tax per category and rate (as EN 16931
// invoices show it), total, what was paid already, and the amount due.
func (l *layout) totals(inv gateway.Invoice, t gateway.Totals) block {
	cur := inv.Currency
	money := func(field, amount string) string { return l.loc.Money(l.v(field, amount), l.v("currency", cur)) }
	sum := func(name, amount string, st style) part {
		value := st
		value.right = true
		return l.row(cell{7, "", body}, cell{12, name, st}, cell{5, amount, value})
	}
	b := block{spacer(3), sum(l.t("invoice.subtotal"), money("totals.subtotal", t.Subtotal), body)}
	currency, err := gateway.LookupCurrency(cur)
	for i, a := range inv.Adjustments {
		f := fmt.Sprintf("adjustments[%d]", i)
		amount := string(a.Amount)
		if err == nil {
			amount = formatAmount(currency, amount)
		}
		name, sign := l.t("invoice.allowance", l.v(f+".reason", a.Reason)), "-"
		if a.Kind == gateway.AdjustmentCharge {
			name, sign = l.t("invoice.charge", l.v(f+".reason", a.Reason)), ""
		}
		name += " (" + l.taxRate(f, string(a.TaxRate), a.TaxCategory) + ")"
		b = append(b, sum(name, money(f+".amount", sign+amount), body))
	}
	for i, r := range t.TaxRates {
		f := fmt.Sprintf("totals.tax_breakdown[%d]", i)
		name := l.t("invoice.tax_on", l.loc.Percent(l.v(f+".rate", r.Rate)), money(f+".taxable", r.Taxable))
		if r.Category != "" && r.Category != "S" {
			name += " - " + l.t("tax_category."+l.v(f+".category", r.Category))
		}
		b = append(b, sum(name, money(f+".tax", r.Tax), body))
	}
	b = append(b,
		sum(l.t("invoice.tax"), money("totals.tax", t.Tax), body),
		sum(l.t("invoice.total"), money("totals.total", t.Total), bodyBold),
	)
	if nonZero(t.AmountPaid) {
		b = append(b, sum(l.t("invoice.amount_paid"), money("totals.amount_paid", "-"+t.AmountPaid), body))
	}
	return append(b,
		spacer(1),
		styled(sum(l.t("invoice.amount_due"), money("totals.amount_due", t.AmountDue), style{size: sizeHeading, bold: true}),
			&props.Cell{BorderType: border.Top, BorderColor: &grey, BorderThickness: 0.3}),
	)
}

// payment prints how to pay, and for euro invoices payable to an IBAN the EPC QR
// code that banking apps read into a SEPA credit transfer.
func (l *layout) payment(inv gateway.Invoice, t gateway.Totals) block {
	p := inv.Payment
	if p == nil {
		return nil
	}
	var labels, values []cell
	for _, f := range []struct{ key, field, value string }{
		{"invoice.bank_name", "payment.bank_name", p.BankName},
		{"invoice.iban", "payment.iban", p.IBAN},
		{"invoice.bic", "payment.bic", p.BIC},
		{"invoice.account_number", "payment.account_number", p.AccountNumber},
		{"invoice.routing_number", "payment.routing_number", p.RoutingNumber},
		{"invoice.reference", "payment.reference", p.Reference},
		{"invoice.pay_online", "payment.link", p.Link},
	} {
		if f.value != "" {
			labels = append(labels, cell{5, l.t(f.key), body})
			values = append(values, cell{12, l.v(f.field, f.value), bodyBold})
		}
	}
	if len(values) == 0 {
		return nil
	}
	b := l.heading(l.t("invoice.payment"))
	payload, ok := epcPayload(inv, t)
	if !ok {
		for i := range values {
			values[i].span = 19
			b = append(b, l.row(labels[i], values[i]))
		}
		return b
	}
	// The QR code stands beside the fields, with the hint under it.
	const qrSize = 26.0
	labelCol, valueCol, height := l.pairs(labels, values)
	hint := style{size: sizeHash, color: &grey}
	hintLines := l.face(hint).wrap(l.t("invoice.qr_hint"), hint.size, width(7))
	height = max(height, qrSize+padY+float64(len(hintLines))*hint.lineHeight()+padY)
	// maroto scales an image to a percentage of the cell's height here (the
	// column is wider than the row is high), so that is how the QR code keeps
	// its size and leaves room for the hint.
	png, err := qrPNG(l.r.png, payload)
	if err != nil {
		// The payload is built from validated fields and always fits a QR code;
		// should it ever not, the document is refused rather than printed
		// without the code its payment section promises.
		l.problems.Add("payment", "qr_code", "the payment QR code could not be made: "+err.Error())
		return b
	}
	qrCol := col.New(7).Add(image.NewFromBytes(png, extension.Png, props.Rect{Percent: qrSize / height * 100}))
	for i, line := range hintLines {
		qrCol.Add(text.New(line, hint.prop(qrSize+padY+float64(i)*hint.lineHeight(), 0)))
	}
	return append(b, part{row.New(height).Add(labelCol, valueCol, qrCol), height})
}

// pairs stacks label and value cells in two columns, each label level with the
// first line of its (possibly wrapped) value. It returns the columns and their
// height.
func (l *layout) pairs(labels, values []cell) (core.Col, core.Col, float64) {
	left, right := col.New(labels[0].span), col.New(values[0].span)
	top := 0.0
	for i, v := range values {
		lines := l.face(v.st).wrap(v.s, v.st.size, width(v.span))
		label := labels[i]
		left.Add(text.New(label.s, label.st.prop(top+padY, 0)))
		for j, line := range lines {
			right.Add(text.New(line, v.st.prop(top+padY+float64(j)*v.st.lineHeight(), 0)))
		}
		top += float64(max(len(lines), 1)) * v.st.lineHeight()
	}
	return left, right, top + 2*padY
}
