package gateway

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzDecodeBatch: any body gives either raw invoices (1 to MaxBatch) or an *Error
// of a client kind; never a panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"invoices": [{"number": "A"}]}`))
	f.Add([]byte(`{"invoices": []}`))
	f.Add([]byte(`{"invoices": [1, "x", null]}`))
	f.Add([]byte(`{"invoices": {}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, err := DecodeBatch(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Kind != KindMalformed && e.Kind != KindInvalid) {
				t.Fatalf("DecodeBatch error %v is not a client error", err)
			}
			return
		}
		if len(raws) == 0 || len(raws) > MaxBatch {
			t.Fatalf("DecodeBatch returned %d invoices", len(raws))
		}
		for _, raw := range raws {
			if inv, err := DecodeInvoice(raw); err == nil {
				_, _ = inv.Validate()
			}
		}
	})
}

// FuzzParseListQuery: any query string parses to a bounded query or a KindInvalid
// error naming the bad parameters.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"limit=10", "limit=0", "starting_after=inv_x", "created[gte]=2026-01-01&created[lte]=2025-01-01",
		"overdue=true&status=queued", "colour=red", "limit=1&limit=2", "created_after=2026-11-23T10:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseListQuery(v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || len(e.Fields) == 0 {
				t.Fatalf("ParseListQuery(%q) error %v is not a field error", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > 100 {
			t.Fatalf("ParseListQuery(%q) limit %d", raw, q.Limit)
		}
		if q.StartingAfter != "" && !ValidID("inv", q.StartingAfter) {
			t.Fatalf("ParseListQuery(%q) accepted cursor %q", raw, q.StartingAfter)
		}
	})
}

func TestParseListQuery(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		fields []string
	}{
		{"accepts an empty query", "", nil},
		{"accepts every filter", "limit=100&customer_id=C&status=sent&number=N&overdue=true&created[gte]=2026-01-01&created_before=2026-02-01", nil},
		{"rejects limit 0", "limit=0", []string{"limit"}},
		{"rejects limit 101", "limit=101", []string{"limit"}},
		{"rejects an unknown parameter", "colour=red", []string{"colour"}},
		{"rejects a bad cursor", "starting_after=1", []string{"starting_after"}},
		{"rejects an unknown status", "status=paid", []string{"status"}},
		{"rejects a reversed range", "created[gte]=2026-02-01&created[lte]=2026-01-01", []string{"created[lte]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tc.query)
			_, err := ParseListQuery(v)
			var got []string
			var e *Error
			if errors.As(err, &e) {
				for _, f := range e.Fields {
					got = append(got, f.Field)
				}
			}
			if len(got) != len(tc.fields) || (len(got) > 0 && got[0] != tc.fields[0]) {
				t.Errorf("fields = %v, want %v (err %v)", got, tc.fields, err)
			}
		})
	}
}
