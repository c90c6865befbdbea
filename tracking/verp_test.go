package tracking

import "testing"

func TestBounceAddressRoundTrip(t *testing.T) {
	tok, err := NewBounceToken()
	if err != nil {
		t.Fatal(err)
	}
	addr := BounceAddress(tok, "gw.test")
	tests := []struct {
		name, addr, domain string
		want               string
		ok                 bool
	}{
		{"parses its own address", addr, "gw.test", tok, true},
		{"ignores case changed by a mail server", "BOUNCE+" + tok + "@GW.Test", "gw.test", tok, true},
		{"accepts angle brackets", "<" + addr + ">", "gw.test", tok, true},
		{"refuses another domain", addr, "other.test", "", false},
		{"refuses a short token", "bounce+abc@gw.test", "gw.test", "", false},
		{"refuses a token outside the alphabet", "bounce+" + tok[:31] + "1@gw.test", "gw.test", "", false},
		{"refuses another local part", "postmaster@gw.test", "gw.test", "", false},
		{"refuses no domain", "bounce+" + tok, "gw.test", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseBounceAddress(tc.addr, tc.domain)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseBounceAddress(%q) = %q, %v; want %q, %v", tc.addr, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseBounceAddress(f *testing.F) {
	f.Add("bounce+abcdefghijklmnopqrstuvwxyz234567@gw.test")
	f.Add("<BOUNCE+aaaa@gw.test>")
	f.Fuzz(func(t *testing.T, addr string) {
		tok, ok := ParseBounceAddress(addr, "gw.test")
		if !ok {
			return
		}
		// Whatever was accepted must be a token that rebuilds an address parsing to itself.
		if got, ok2 := ParseBounceAddress(BounceAddress(tok, "gw.test"), "gw.test"); !ok2 || got != tok {
			t.Errorf("token %q from %q does not round-trip", tok, addr)
		}
	})
}
