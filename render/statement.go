package render

import (
	"fmt"

	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/props"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/i18n"
)

// RenderStatement prints a customer statement: the open invoices with how long
// each is overdue, the payments received, and the balance in aging buckets
// (current, 1-30, 31-60, 61-90 and over 90 days). An invalid statement is the
// KindInvalid error of Summarize; text the fonts cannot draw is KindUnprocessable.
func (r *Renderer) RenderStatement(st gateway.Statement) ([]byte, error) {
	sum, err := st.Summarize()
	if err != nil {
		return nil, err
	}
	loc, err := i18n.Lookup(st.Locale)
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindUnprocessable, Message: "the statement cannot be printed in its language",
			Fields: []gateway.FieldError{{Field: "locale", Code: "unsupported_locale", Message: err.Error()}}}
	}
	l := newLayout(r, loc)
	chunks := l.statement(st, sum)
	footer := l.footer(st.Seller)
	if err := l.err("the statement contains text that cannot be printed"); err != nil {
		return nil, err
	}
	meta := pdfMeta{
		title:   fmt.Sprintf("%s %s %s", loc.T("statement.title"), st.Customer.Name, st.Date.Format("2006-01-02")),
		author:  st.Seller.Name,
		subject: loc.T("statement.title") + " " + st.Customer.ID,
		created: issueTime(st.Date),
	}
	return r.pdf(meta, loc, chunks, footer)
}

func (l *layout) statement(st gateway.Statement, sum gateway.StatementSummary) []chunk {
	money := func(field, amount string) string { return l.loc.Number(l.v(field, amount)) }
	var chunks []chunk
	add := func(b block) { chunks = append(chunks, chunk{rows: b}) }

	dateStyle := style{size: sizeNumber, bold: true, right: true, top: (sizeTitle - sizeNumber) * ptToMM}
	head := block{
		l.row(cell{12, l.t("statement.title"), style{size: sizeTitle, bold: true}}, cell{12, l.loc.Date(st.Date.Time), dateStyle}),
		spacer(6),
	}
	s := st.Seller
	left := []cell{{12, l.t("invoice.from"), label}, {12, l.v("seller.name", s.Name), bodyBold}}
	if s.Address.Line1 != "" {
		left = append(left, l.address("seller.address", s.Address)...)
	}
	meta := [][2]string{
		{"", ""},
		{l.t("statement.date"), l.loc.Date(st.Date.Time)},
		{l.t("statement.customer_id"), l.v("customer.id", st.Customer.ID)},
		{l.t("invoice.currency"), l.v("currency", st.Currency)},
	}
	for i := range max(len(left), len(meta)) {
		c := cell{12, "", body}
		if i < len(left) {
			c = left[i]
		}
		var m [2]string
		if i < len(meta) {
			m = meta[i]
		}
		head = append(head, l.row(c, cell{5, m[0], body}, cell{7, m[1], bodyRight}))
	}
	c := st.Customer
	head = append(head, spacer(6), l.row(cell{12, l.t("invoice.bill_to"), label}), l.row(cell{12, l.v("customer.name", c.Name), bodyBold}))
	if c.Contact.Name != "" {
		head = append(head, l.row(cell{12, l.t("invoice.attn", l.v("customer.contact.name", c.Contact.Name)), body}))
	}
	if c.Address.Line1 != "" {
		for _, a := range l.address("customer.address", c.Address) {
			head = append(head, l.row(a))
		}
	}
	add(head)

	right := labelBold
	right.right = true
	rule := &props.Cell{BorderType: border.Bottom, BorderColor: &lightGrey, BorderThickness: 0.2}
	titles := func() part {
		return styled(l.row(
			cell{5, l.t("statement.document"), labelBold},
			cell{3, l.t("statement.date_col"), labelBold},
			cell{3, l.t("statement.due_date"), labelBold},
			cell{3, l.t("statement.days_overdue"), right},
			cell{3, l.t("statement.total"), right},
			cell{3, l.t("statement.paid"), right},
			cell{4, l.t("statement.open"), right},
		), &props.Cell{BackgroundColor: &lightGrey})
	}
	for i, inv := range st.Invoices {
		f := fmt.Sprintf("invoices[%d]", i)
		line := sum.Lines[i]
		days := ""
		if line.DaysOverdue > 0 {
			days = fmt.Sprint(line.DaysOverdue)
		}
		paid := inv.Paid
		if paid == "" {
			paid = "0"
		}
		if cur, err := gateway.LookupCurrency(st.Currency); err == nil {
			paid = formatAmount(cur, paid)
		}
		p := styled(l.row(
			cell{5, l.v(f+".number", inv.Number), body},
			cell{3, l.loc.Date(inv.IssueDate.Time), body},
			cell{3, l.loc.Date(inv.DueDate.Time), body},
			cell{3, days, bodyRight},
			cell{3, money(f+".total", inv.Total), bodyRight},
			cell{3, money(f+".paid", paid), bodyRight},
			cell{4, money(f+".open", line.Open), bodyRight},
		), rule)
		if i == 0 {
			chunks = append(chunks, chunk{rows: append(l.heading(l.t("statement.open_items")), titles(), p)})
			continue
		}
		chunks = append(chunks, chunk{rows: block{p}, repeat: titles})
	}

	if len(st.Payments) > 0 {
		b := l.heading(l.t("statement.activity"))
		for i, pay := range st.Payments {
			f := fmt.Sprintf("payments[%d]", i)
			b = append(b, styled(l.row(
				cell{5, l.loc.Date(pay.Date.Time), body},
				cell{15, l.t("statement.payment", l.v(f+".reference", pay.Reference)), body},
				cell{4, money(f+".amount", pay.Amount), bodyRight},
			), rule))
		}
		add(b)
	}

	aging := l.heading(l.t("statement.aging") + " (" + l.v("currency", st.Currency) + ")")
	keys := []string{"statement.current", "statement.days_1_30", "statement.days_31_60", "statement.days_61_90", "statement.days_90"}
	var names, amounts []cell
	for i, k := range keys {
		names = append(names, cell{4, l.t(k), right})
		amounts = append(amounts, cell{4, money("aging", sum.Aging[i]), bodyRight})
	}
	names = append(names, cell{4, l.t("statement.balance_due"), right})
	amounts = append(amounts, cell{4, money("balance", sum.Balance), style{size: sizeHeading, bold: true, right: true}})
	aging = append(aging, styled(l.row(names...), &props.Cell{BackgroundColor: &lightGrey}), l.row(amounts...))
	add(aging)
	return chunks
}
