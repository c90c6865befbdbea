package i18n

import (
	"fmt"
	"strings"
	"time"
)

// Default is the locale of an invoice that names none.
const Default = "en"

// Locales lists the supported locales in a fixed order, e.g. for documentation
// and tests.
func Locales() []string { return []string{"en", "de", "fr", "es", "nl"} }

// Locale is one language's labels and formats. It is immutable once looked up and
// safe for concurrent use.
type Locale struct {
	tag    string
	labels map[string]string
	// decimal and group separate the fraction and the thousands; minGroup is the
	// fewest integer digits at which grouping starts (Spanish writes 1234 but 12.345).
	decimal, group string
	minGroup       int
	// moneyFirst puts the currency code before the amount ("EUR 1,234.56"), else after.
	moneyFirst bool
	// percentSpace separates the number from "%" ("19 %" in German and French).
	percentSpace string
	date         func(t time.Time) string
}

// nbsp keeps an amount and its currency, or a number's digit groups, on one line.
const nbsp = "\u00a0"

// Lookup returns the locale for a tag such as "de" or "de-AT" (the region is
// ignored; formats are the language's). An empty tag is the Default. An unknown
// language is an error naming the supported ones.
func Lookup(tag string) (*Locale, error) {
	lang := strings.ToLower(tag)
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	if lang == "" {
		lang = Default
	}
	base := english()
	var l *Locale
	switch lang {
	case "en":
		l = &Locale{decimal: ".", group: ",", minGroup: 4, moneyFirst: true,
			date: func(t time.Time) string { return t.Format("2 Jan 2006") }}
	case "de":
		l = &Locale{labels: german(), decimal: ",", group: ".", minGroup: 4, percentSpace: nbsp,
			date: func(t time.Time) string { return t.Format("02.01.2006") }}
	case "fr":
		l = &Locale{labels: french(), decimal: ",", group: nbsp, minGroup: 4, percentSpace: nbsp,
			date: func(t time.Time) string { return t.Format("02/01/2006") }}
	case "es":
		l = &Locale{labels: spanish(), decimal: ",", group: ".", minGroup: 5, percentSpace: nbsp,
			date: func(t time.Time) string { return t.Format("02/01/2006") }}
	case "nl":
		l = &Locale{labels: dutch(), decimal: ",", group: ".", minGroup: 4, moneyFirst: true,
			date: func(t time.Time) string { return t.Format("02-01-2006") }}
	default:
		return nil, fmt.Errorf("locale %q: not supported; use one of %s", tag, strings.Join(Locales(), ", "))
	}
	l.tag = lang
	// A label not yet translated falls back to English rather than to its key.
	for k, v := range l.labels {
		base[k] = v
	}
	l.labels = base
	return l, nil
}

// Tag is the locale's language code, e.g. "de".
func (l *Locale) Tag() string { return l.tag }

// T returns the label for key. With args, the label is a fmt format whose verbs
// may be indexed (%[2]s) so that translations can reorder them. An unknown key
// comes back as the key itself, visible in review instead of blank on paper.
func (l *Locale) T(key string, args ...any) string {
	s, ok := l.labels[key]
	if !ok {
		s = key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Has reports whether key has a label (in this language or the English fallback).
func (l *Locale) Has(key string) bool {
	_, ok := l.labels[key]
	return ok
}

// Number formats a plain decimal string ("-1234.50") with the locale's separators
// ("-1.234,50"), keeping every digit as written: amounts are formatted to their
// currency's minor unit before they get here, and no float ever touches them. Text
// that is not a plain decimal comes back unchanged.
func (l *Locale) Number(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || !digits(intPart) || (hasFrac && (frac == "" || !digits(frac))) {
		return sign + s
	}
	var b strings.Builder
	b.WriteString(sign)
	if len(intPart) >= l.minGroup {
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteString(l.group)
			}
			b.WriteRune(c)
		}
	} else {
		b.WriteString(intPart)
	}
	if hasFrac {
		b.WriteString(l.decimal)
		b.WriteString(frac)
	}
	return b.String()
}

// Money formats an amount with its ISO 4217 code, in the locale's order:
// "EUR 1,234.56", "1.234,56 EUR". The code, not a symbol, is printed: it is
// unambiguous across countries ($) and every font has its letters.
func (l *Locale) Money(amount, currency string) string {
	if l.moneyFirst {
		return currency + nbsp + l.Number(amount)
	}
	return l.Number(amount) + nbsp + currency
}

// Percent formats a rate such as "19" or "5.5" as "19%", "5,5 %".
func (l *Locale) Percent(rate string) string {
	return l.Number(rate) + l.percentSpace + "%"
}

// Date formats a calendar date the way the language writes it on documents.
func (l *Locale) Date(t time.Time) string { return l.date(t) }

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
