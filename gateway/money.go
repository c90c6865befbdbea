package gateway

import (
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
)

// plainDecimal is the only number syntax the API accepts for amounts: no exponent,
// no NaN or Infinity, no leading '+', no thousands separators.
var plainDecimal = regexp.MustCompile(`^-?[0-9]{1,18}(\.[0-9]{1,18})?$`)

// parseDecimal parses a plain decimal string; ok is false for anything else.
func parseDecimal(s string) (d decimal.Decimal, ok bool) {
	if !plainDecimal.MatchString(s) {
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}

// decimalPlaces reports how many digits follow the decimal point of d as written.
func decimalPlaces(d decimal.Decimal) int32 {
	if d.Exponent() >= 0 {
		return 0
	}
	return -d.Exponent()
}

// Currency is an ISO 4217 currency with the number of minor-unit digits that invoices
// in it are rounded to (JPY 0, EUR 2, BHD 3).
type Currency struct {
	Code  string
	Scale int32
}

// LookupCurrency resolves an ISO 4217 code. Minor units come from CLDR via
// golang.org/x/text/currency, which is kept current upstream.
func LookupCurrency(code string) (Currency, error) {
	if len(code) != 3 {
		return Currency{}, fmt.Errorf("currency %q: want a three-letter ISO 4217 code", code)
	}
	u, err := currency.ParseISO(code)
	if err != nil || u.String() != code {
		return Currency{}, fmt.Errorf("currency %q: not an ISO 4217 code", code)
	}
	scale, _ := currency.Standard.Rounding(u)
	return Currency{Code: code, Scale: int32(scale)}, nil
}

// Round rounds half away from zero ("half-up" as accountants say it) to the currency's
// minor unit. This is the rounding EN 16931 expects for line and tax amounts.
func (c Currency) Round(d decimal.Decimal) decimal.Decimal {
	return d.Round(c.Scale)
}

// Format writes d with exactly the currency's number of decimals, e.g. "71.36".
func (c Currency) Format(d decimal.Decimal) string {
	return d.StringFixed(c.Scale)
}
