package gateway

import (
	"fmt"

	"github.com/shopspring/decimal"
)

type lineAmounts struct {
	qty, price, discount, rate decimal.Decimal
	category                   string
}

type adjustmentAmount struct {
	charge   bool
	amount   decimal.Decimal
	rate     decimal.Decimal
	category string
}

type taxKey struct {
	category string
	rate     string // decimal.String(): "19", "7.5"
}

// computeTotals applies the documented rounding (EN 16931 style), all in exact
// decimals:
//
//   - a line's gross amount is quantity × unit price, rounded half-up to the
//     currency's minor unit; its discount is gross × percent / 100, rounded the same
//     way; its net amount is gross − discount;
//   - document discounts and charges are taken as sent (already in minor units) and
//     added to or taken from the taxable base of their category and rate;
//   - tax is computed once per category and rate, on that group's taxable sum, and
//     rounded half-up;
//   - total = subtotal − allowances + charges + tax; amount due = total − amount paid.
func computeTotals(cur Currency, lines []lineAmounts, adjs []adjustmentAmount, paid decimal.Decimal) (Totals, error) {
	var t Totals
	subtotal, allowances, charges := decimal.Zero, decimal.Zero, decimal.Zero
	taxable := map[taxKey]decimal.Decimal{}
	var order []taxKey
	add := func(k taxKey, d decimal.Decimal) {
		if _, seen := taxable[k]; !seen {
			order = append(order, k)
		}
		taxable[k] = taxable[k].Add(d)
	}
	hundred := decimal.NewFromInt(100)
	for _, l := range lines {
		gross := cur.Round(l.qty.Mul(l.price))
		disc := cur.Round(gross.Mul(l.discount).Div(hundred))
		net := gross.Sub(disc)
		t.Lines = append(t.Lines, cur.Format(net))
		t.LineDiscounts = append(t.LineDiscounts, cur.Format(disc))
		subtotal = subtotal.Add(net)
		add(taxKey{l.category, l.rate.String()}, net)
	}
	for _, a := range adjs {
		k := taxKey{a.category, a.rate.String()}
		if a.charge {
			charges = charges.Add(a.amount)
			add(k, a.amount)
		} else {
			allowances = allowances.Add(a.amount)
			add(k, a.amount.Neg())
		}
	}
	var p Problems
	tax := decimal.Zero
	for _, k := range order {
		base := taxable[k]
		if base.IsNegative() {
			p.Add("adjustments", "exceeds_lines", fmt.Sprintf("the discounts at tax category %s, rate %s%% exceed the lines they apply to", k.category, k.rate))
			continue
		}
		amount := cur.Round(base.Mul(decimal.RequireFromString(k.rate)).Div(hundred))
		tax = tax.Add(amount)
		t.TaxRates = append(t.TaxRates, TaxAmount{Category: k.category, Rate: k.rate, Taxable: cur.Format(base), Tax: cur.Format(amount)})
	}
	total := subtotal.Sub(allowances).Add(charges).Add(tax)
	due := total.Sub(paid)
	switch {
	case total.GreaterThan(maxTotal):
		p.Add("lines", "total_too_large", fmt.Sprintf("the invoice total %s is beyond any plausible invoice (at most %s)", cur.Format(total), maxTotal))
	case due.IsNegative():
		p.Add("amount_paid", "exceeds_total", fmt.Sprintf("amount_paid %s is more than the total %s", cur.Format(paid), cur.Format(total)))
	}
	if err := p.Err("the invoice has invalid fields"); err != nil {
		return Totals{}, err
	}
	t.Subtotal, t.Allowances, t.Charges = cur.Format(subtotal), cur.Format(allowances), cur.Format(charges)
	t.Tax, t.Total, t.AmountPaid, t.AmountDue = cur.Format(tax), cur.Format(total), cur.Format(paid), cur.Format(due)
	return t, nil
}
