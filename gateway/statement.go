package gateway

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Statement is a customer's account at a date: the invoices still open, the
// payments received in the period (already applied to those invoices), and the
// balance, aged by how long past due each invoice is. The statements feature
// builds it from stored invoices; render prints it.
type Statement struct {
	Date     Date     // the day the statement is made up to ("as of")
	Currency string   // every amount is in this currency
	Locale   string   // en, de, fr, es, nl; default en
	Seller   Party    // who is owed
	Customer Customer // who owes
	Invoices []StatementInvoice
	Payments []StatementPayment
}

// StatementInvoice is one invoice on the account. Total and Paid are decimal
// strings in the statement's currency.
type StatementInvoice struct {
	Number    string
	IssueDate Date
	DueDate   Date
	Total     string
	Paid      string // "" means nothing paid yet
}

// StatementPayment is a payment received, as listed on the statement.
type StatementPayment struct {
	Date      Date
	Reference string
	Amount    string
}

// AgingBucket names how far past due an amount is, by whole days after the due
// date on the statement date.
type AgingBucket int

const (
	AgingCurrent AgingBucket = iota // not yet due, or due today
	Aging1To30
	Aging31To60
	Aging61To90
	AgingOver90
	agingBuckets
)

// Bucket returns the aging bucket for an amount daysOverdue days past its due date.
func Bucket(daysOverdue int) AgingBucket {
	switch {
	case daysOverdue <= 0:
		return AgingCurrent
	case daysOverdue <= 30:
		return Aging1To30
	case daysOverdue <= 60:
		return Aging31To60
	case daysOverdue <= 90:
		return Aging61To90
	default:
		return AgingOver90
	}
}

// StatementLine is one invoice as the statement prints it; amounts are formatted
// to the currency's minor unit.
type StatementLine struct {
	Open        string
	DaysOverdue int // 0 when not overdue
	Bucket      AgingBucket
}

// StatementSummary is what Summarize computes, in exact decimals.
type StatementSummary struct {
	Lines    []StatementLine // one per invoice, in order
	Aging    [agingBuckets]string
	Balance  string // sum of the open amounts, = sum of Aging
	Payments string // sum of the payments listed
}

// Summarize checks the statement and computes the open amount of every invoice,
// the aging buckets and the balance. Invalid fields are reported together in a
// KindInvalid *Error. Days overdue count calendar days in UTC, so an invoice due
// on the statement date is current and one due the day before is 1 day overdue.
func (s *Statement) Summarize() (StatementSummary, error) {
	var p Problems
	checkDate(&p, "date", s.Date)
	cur, curErr := LookupCurrency(s.Currency)
	if curErr != nil {
		p.Add("currency", "unknown_currency", curErr.Error())
	}
	scale := int32(-1)
	if curErr == nil {
		scale = cur.Scale
	}
	requireText(&p, "seller.name", s.Seller.Name, maxTextLen)
	requireText(&p, "customer.name", s.Customer.Name, maxTextLen)
	maxAmount := decimal.NewFromInt(maxUnitPrice)

	var sum StatementSummary
	var aging [agingBuckets]decimal.Decimal
	balance := decimal.Zero
	for i, inv := range s.Invoices {
		f := fmt.Sprintf("invoices[%d]", i)
		requireText(&p, f+".number", inv.Number, 64)
		checkDate(&p, f+".issue_date", inv.IssueDate)
		checkDate(&p, f+".due_date", inv.DueDate)
		before := len(p)
		total := checkAmount(&p, f+".total", DecimalText(inv.Total), maxAmount, scale, true)
		paid := decimal.Zero
		if inv.Paid != "" {
			paid = checkAmount(&p, f+".paid", DecimalText(inv.Paid), maxAmount, scale, true)
		}
		if len(p) == before && paid.GreaterThan(total) {
			p.Add(f+".paid", "exceeds_total", f+".paid must not be more than its total")
		}
		open := total.Sub(paid)
		days := 0
		if !inv.DueDate.IsZero() && !s.Date.IsZero() {
			days = max(0, daysBetween(inv.DueDate.Time, s.Date.Time))
		}
		b := Bucket(days)
		aging[b] = aging[b].Add(open)
		balance = balance.Add(open)
		sum.Lines = append(sum.Lines, StatementLine{Open: open.String(), DaysOverdue: days, Bucket: b})
	}
	payments := decimal.Zero
	for i, pay := range s.Payments {
		f := fmt.Sprintf("payments[%d]", i)
		checkDate(&p, f+".date", pay.Date)
		optionalText(&p, f+".reference", pay.Reference, 140)
		payments = payments.Add(checkAmount(&p, f+".amount", DecimalText(pay.Amount), maxAmount, scale, false))
	}
	if err := p.Err("the statement has invalid fields"); err != nil {
		return StatementSummary{}, err
	}
	for i := range sum.Lines {
		sum.Lines[i].Open = cur.Format(decimal.RequireFromString(sum.Lines[i].Open))
	}
	for b, amount := range aging {
		sum.Aging[b] = cur.Format(amount)
	}
	sum.Balance, sum.Payments = cur.Format(balance), cur.Format(payments)
	return sum, nil
}

// daysBetween counts calendar days from a to b (negative when b is before a).
func daysBetween(a, b time.Time) int {
	ua := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	ub := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(ub.Sub(ua).Hours() / 24)
}
