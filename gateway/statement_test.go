package gateway

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func day(s string) Date {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return Date{Time: t}
}

func TestBucket(t *testing.T) {
	tests := []struct {
		days int
		want AgingBucket
	}{
		{-10, AgingCurrent}, {0, AgingCurrent},
		{1, Aging1To30}, {30, Aging1To30},
		{31, Aging31To60}, {60, Aging31To60},
		{61, Aging61To90}, {90, Aging61To90},
		{91, AgingOver90}, {400, AgingOver90},
	}
	for _, tt := range tests {
		if got := Bucket(tt.days); got != tt.want {
			t.Errorf("Bucket(%d): got %d, want %d", tt.days, got, tt.want)
		}
	}
}

func statementFixture() Statement {
	inv := func(number, due, total, paid string) StatementInvoice {
		return StatementInvoice{Number: number, IssueDate: day("2026-01-02"), DueDate: day(due), Total: total, Paid: paid}
	}
	return Statement{
		Date:     day("2026-12-31"),
		Currency: "EUR",
		Seller:   Party{Name: "Acme Supplies GmbH"},
		Customer: Customer{ID: "CUST-7", Name: "Globex Ltd"},
		Invoices: []StatementInvoice{
			inv("A-due-today", "2026-12-31", "100.10", ""),
			inv("B-1-day", "2026-12-30", "200.20", "0.20"),
			inv("C-30-days", "2026-12-01", "0.01", ""),
			inv("D-31-days", "2026-11-30", "300.00", "100"),
			inv("E-60-days", "2026-11-01", "0.30", ""),
			inv("F-61-days", "2026-10-31", "400.00", ""),
			inv("G-90-days", "2026-10-02", "0.04", ""),
			inv("H-91-days", "2026-10-01", "500.00", "499.99"),
			inv("I-future", "2027-01-30", "0.07", ""),
		},
		Payments: []StatementPayment{{Date: day("2026-12-15"), Reference: "Wire 1", Amount: "100.20"}},
	}
}

func TestStatementSummarize(t *testing.T) {
	s := statementFixture()
	got, err := s.Summarize()
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	wantAging := [agingBuckets]string{"100.17", "200.01", "200.30", "400.04", "0.01"}
	if got.Aging != wantAging {
		t.Errorf("aging: got %q, want %q", got.Aging, wantAging)
	}
	if got.Balance != "900.53" || got.Payments != "100.20" {
		t.Errorf("balance, payments: got %s, %s, want 900.53, 100.20", got.Balance, got.Payments)
	}
	var days []int
	for _, l := range got.Lines {
		days = append(days, l.DaysOverdue)
	}
	if want := []int{0, 1, 30, 31, 60, 61, 90, 91, 0}; !slices.Equal(days, want) {
		t.Errorf("days overdue: got %v, want %v", days, want)
	}
	if got.Lines[1].Open != "200.00" {
		t.Errorf("open amount of B: got %s, want 200.00", got.Lines[1].Open)
	}
}

func TestStatementSummarizeRejects(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*Statement)
		wantFields []string
	}{
		{"rejects an unknown currency", func(s *Statement) { s.Currency = "XYZ" }, []string{"currency"}},
		{"rejects a payment above the total", func(s *Statement) { s.Invoices[0].Paid = "100.11" }, []string{"invoices[0].paid"}},
		{"rejects too many decimals for the currency", func(s *Statement) { s.Invoices[1].Total = "1.234" }, []string{"invoices[1].total"}},
		{"rejects a zero payment and a missing date", func(s *Statement) {
			s.Payments[0].Amount = "0"
			s.Date = Date{}
		}, []string{"date", "payments[0].amount"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := statementFixture()
			tt.edit(&s)
			_, err := s.Summarize()
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid {
				t.Fatalf("got %v, want a KindInvalid *Error", err)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("got fields %q, want %q", fields, tt.wantFields)
			}
		})
	}
}
