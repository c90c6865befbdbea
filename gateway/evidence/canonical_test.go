package evidence

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
)

// Event details as the gateway writes them take the fast path; the rest still come
// out canonical.
func TestCanonicalSkipsTheTransformOnlyWhereTheInputIsCanonical(t *testing.T) {
	detail, _ := json.Marshal(map[string]any{"number": "INV-1", "total": "119.00", "attempt": 2, "reply": "250 2.0.0 Ok: queued as 4B2C1", "ok": true, "n": nil, "tags": []string{"a", "b"}})
	for _, tc := range []struct {
		in   string
		fast bool
	}{
		{string(detail), true},
		{`{}`, true},
		{`{"a":{"b":[1,-2,0,"x\n\u001f"]}}`, true},
		{`{"b":1,"a":2}`, false},           // unsorted
		{`{"a": 1}`, false},                // whitespace
		{`{"a":1.0}`, false},               // fraction
		{`{"a":1e3}`, false},               // exponent
		{`{"a":-0}`, false},                // negative zero
		{`{"a":"\u003c"}`, false},          // JCS writes "<"
		{`{"a":"\u000a"}`, false},          // JCS writes \n
		{`{"a":1,"a":2}`, false},           // duplicate key
		{`{"é":1,"z":2}`, false},           // non-ASCII key: UTF-16 order decides
		{`{"a":12345678901234567}`, false}, // beyond float64's exact integers
	} {
		if got := isCanonical([]byte(tc.in)); got != tc.fast {
			t.Errorf("isCanonical(%s) = %v, want %v", tc.in, got, tc.fast)
		}
		want, err := jcs.Transform([]byte(tc.in))
		if err != nil {
			continue // duplicate keys: JCS refuses them, and so does Canonical
		}
		got, err := Canonical(json.RawMessage(tc.in))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Canonical(%s) = %s, %v; want %s", tc.in, got, err, want)
		}
	}
}

// Whatever the fast path accepts, the full transform leaves as it is.
func FuzzCanonicalFastPath(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,false,null],"c":{"d":"e\\\"\u0001"}}`, `[]`, `"x"`, `-12`, `{"":0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !isCanonical(b) {
			return
		}
		out, err := jcs.Transform(b)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("fast path took %q, but JCS gives %q (%v)", b, out, err)
		}
	})
}

// hashOfCanonicalForm is the definition ComputeHash writes out by hand.
func hashOfCanonicalForm(t testing.TB, e Event) string {
	detail := e.Detail
	if len(detail) == 0 || string(detail) == "null" {
		detail = json.RawMessage(`{}`)
	}
	b, err := Canonical(hashedEvent{V: 1, Seq: e.Seq, InvoiceID: e.InvoiceID, DeliveryID: e.DeliveryID, Type: e.Type,
		Level: e.Level, At: TruncateTime(e.At).Format(time.RFC3339Nano), Detail: detail, PrevHash: e.PrevHash})
	if err != nil {
		t.Fatalf("canonical form: %v", err)
	}
	return SHA256Hex(b)
}

func TestComputeHashIsTheHashOfTheCanonicalForm(t *testing.T) {
	at := time.Date(2026, 12, 4, 18, 30, 1, 123456789, time.FixedZone("CET", 3600))
	for _, e := range []Event{
		{Seq: 1, InvoiceID: "inv_1", Type: "accepted", Level: 0, At: at, Detail: json.RawMessage(`{"number":"A<1>&"}`)},
		{Seq: 7, InvoiceID: "inv_1", DeliveryID: "dlv_2", Type: "sent", Level: 2, At: at, Detail: json.RawMessage(`{ "b" : 1.50, "a" : [1e2] }`), PrevHash: "ab"},
		{Seq: 2, InvoiceID: "inv_\"quoted\"\\", Type: "ctl\x01\x1f\b\f\n\r\t", At: at, PrevHash: "x\u2028y"},
		{Seq: 3, InvoiceID: "bad\xff\xfeutf8 é 日本 😀", Type: "t", At: at, Detail: json.RawMessage(`null`)},
	} {
		got, err := e.ComputeHash()
		if want := hashOfCanonicalForm(t, e); err != nil || got != want {
			t.Errorf("ComputeHash(%+v) = %s, %v; want %s", e, got, err, want)
		}
	}
}

func FuzzComputeHash(f *testing.F) {
	f.Add("inv_1", "dlv_1", "sent", "prev", int64(3), 2, []byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, invoice, delivery, typ, prev string, seq int64, level int, detail []byte) {
		if !json.Valid(detail) || seq < 0 || seq > 1<<52 || level < -1<<20 || level > 1<<20 {
			return
		}
		e := Event{Seq: seq, InvoiceID: invoice, DeliveryID: delivery, Type: typ, Level: level,
			At: time.Unix(1764870000, 123456789), Detail: detail, PrevHash: prev}
		got, err := e.ComputeHash()
		if err != nil {
			return // a detail JCS refuses (duplicate keys): both ways fail
		}
		if want := hashOfCanonicalForm(t, e); got != want {
			t.Fatalf("ComputeHash = %s, canonical form hashes to %s", got, want)
		}
	})
}
