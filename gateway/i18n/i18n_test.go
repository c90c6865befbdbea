package i18n

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name    string
		tag     string
		want    string
		wantErr bool
	}{
		{"defaults to English", "", "en", false},
		{"finds German", "de", "de", false},
		{"ignores the region", "fr-BE", "fr", false},
		{"ignores case and underscores", "NL_nl", "nl", false},
		{"refuses Italian", "it", "", true},
		{"refuses garbage", "xx-YY", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Lookup(tt.tag)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Lookup(%q): got error %v, want error %v", tt.tag, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "en, de, fr, es, nl") {
					t.Errorf("got error %q, want it to list the supported locales", err)
				}
				return
			}
			if got := l.Tag(); got != tt.want {
				t.Errorf("Lookup(%q).Tag(): got %q, want %q", tt.tag, got, tt.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	date := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		tag                                  string
		number, small, money, percent, dateS string
	}{
		{"en", "-1,234,567.891", "999.50", "EUR\u00a01,234.56", "5.5%", "3 Nov 2026"},
		{"de", "-1.234.567,891", "999,50", "1.234,56\u00a0EUR", "5,5\u00a0%", "03.11.2026"},
		{"fr", "-1\u00a0234\u00a0567,891", "999,50", "1\u00a0234,56\u00a0EUR", "5,5\u00a0%", "03/11/2026"},
		{"es", "-1.234.567,891", "999,50", "1234,56\u00a0EUR", "5,5\u00a0%", "03/11/2026"},
		{"nl", "-1.234.567,891", "999,50", "EUR\u00a01.234,56", "5,5%", "03-11-2026"},
	}
	for _, tt := range tests {
		t.Run("formats "+tt.tag, func(t *testing.T) {
			l, err := Lookup(tt.tag)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ what, got, want string }{
				{"Number(-1234567.891)", l.Number("-1234567.891"), tt.number},
				{"Number(999.50)", l.Number("999.50"), tt.small},
				{"Money(1234.56, EUR)", l.Money("1234.56", "EUR"), tt.money},
				{"Percent(5.5)", l.Percent("5.5"), tt.percent},
				{"Date(2026-11-03)", l.Date(date), tt.dateS},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestNumberKeepsDigitsAndRefusesToGuess(t *testing.T) {
	de, _ := Lookup("de")
	tests := []struct{ name, in, want string }{
		{"keeps a zero-decimal currency's integer", "1500", "1.500"},
		{"keeps three decimals (BHD)", "12345.678", "12.345,678"},
		{"keeps trailing zeros", "10.00", "10,00"},
		{"leaves an exponent alone", "1e5", "1e5"},
		{"leaves text alone", "n/a", "n/a"},
		{"leaves a dangling point alone", "12.", "12."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := de.Number(tt.in); got != tt.want {
				t.Errorf("Number(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestLabelsComplete keeps translations in step with English: every key is
// translated (or deliberately the same word) and has the same fmt arguments.
func TestLabelsComplete(t *testing.T) {
	sameEverywhere := map[string]bool{"invoice.iban": true, "invoice.bic": true}
	verbs := regexp.MustCompile(`%(\[\d\])?s|\{current\}|\{total\}`)
	args := func(s string) []string {
		found := verbs.FindAllString(s, -1)
		for i, v := range found {
			found[i] = strings.Replace(v, "%s", "%[1]s", 1)
		}
		slices.Sort(found)
		return slices.Compact(found)
	}
	en := english()
	for tag, labels := range map[string]map[string]string{"de": german(), "fr": french(), "es": spanish(), "nl": dutch()} {
		for _, key := range slices.Sorted(maps.Keys(en)) {
			got, ok := labels[key]
			if !ok {
				if !sameEverywhere[key] {
					t.Errorf("%s: got no label for %q", tag, key)
				}
				continue
			}
			if !slices.Equal(args(got), args(en[key])) {
				t.Errorf("%s %q: got arguments %q in %q, want %q as in English", tag, key, args(got), got, args(en[key]))
			}
		}
		for key := range labels {
			if _, ok := en[key]; !ok {
				t.Errorf("%s: got label %q that English lacks", tag, key)
			}
		}
	}
}

func TestT(t *testing.T) {
	fr, _ := Lookup("fr")
	tests := []struct{ name, got, want string }{
		{"translates", fr.T("invoice.title"), "Facture"},
		{"fills reordered arguments", fr.T("invoice.tax_on", "20\u00a0%", "100,00\u00a0EUR"), "TVA 20\u00a0% sur 100,00\u00a0EUR"},
		{"falls back to English for an untranslated key", fr.T("invoice.iban"), "IBAN"},
		{"shows an unknown key rather than nothing", fr.T("invoice.nope"), "invoice.nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
