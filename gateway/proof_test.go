package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestProofSummaryReadsAloudAndCountsNoMachineAsAPerson(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 2, 33, 0, time.UTC)
	d := Delivery{ID: "dlv_1", Recipient: Contact{Name: "Jane Doe", Email: "jane.doe@globex.test"}, Status: StatusDelivered}
	r := &Record{ID: "inv_1", Invoice: Invoice{Number: "INV-2026-0042", Currency: "EUR"}, Totals: Totals{Total: "71.36"},
		PDF: &Object{Key: "k/invoice.pdf", SHA256: strings.Repeat("a", 64)}, Deliveries: []Delivery{d}}
	ev := func(typ EventType, dlv string, min int, detail string) Event {
		return Event{InvoiceID: "inv_1", DeliveryID: dlv, Type: typ, Level: typ.Level(), At: at.Add(time.Duration(min) * time.Minute), Detail: json.RawMessage(detail)}
	}
	tests := []struct {
		name      string
		events    []Event
		hits      []HitCount
		want      []string
		wantLevel int
	}{
		{"delivered to the MX, opened by a person, confirmed", []Event{
			ev(EventAccepted, "", 0, `{}`),
			ev(EventArchived, "", 0, `{"key":"k/invoice.pdf","sha256":"`+strings.Repeat("a", 64)+`"}`),
			ev(EventSent, "dlv_1", 0, `{"reply":"250 2.0.0 Ok: queued as 4XyZ"}`),
			ev(EventDelivered, "dlv_1", 0, `{"mx_host":"mx.globex.test","reply":"250 2.0.0 Ok: queued as 4XyZ","source":"direct"}`),
			ev(EventOpened, "dlv_1", 5, `{"classification":"machine","reason":"apple_mpp"}`),
			ev(EventOpened, "dlv_1", 9, `{"classification":"human","reason":"browser"}`),
			ev(EventAcknowledged, "dlv_1", 12, `{"name":"Jane Doe"}`),
		}, []HitCount{{DeliveryID: "dlv_1", EventType: EventOpened, Classification: "human", Count: 3}},
			[]string{"Delivered to mx.globex.test at 2026-11-23 10:02:33 UTC, reply '250 2.0.0 Ok: queued as 4XyZ'",
				"opened by a person 3 times (and once by machines", "receipt confirmed by Jane Doe at 2026-11-23 10:14:33 UTC"}, 6},
		{"only machines opened it: the ladder stops at delivered", []Event{
			ev(EventDelivered, "dlv_1", 0, `{"remote_mta":"dns; mx.globex.test","source":"dsn"}`),
			ev(EventOpened, "dlv_1", 1, `{"classification":"machine","reason":"security_scanner"}`),
			ev(EventClicked, "dlv_1", 1, `{"classification":"machine","reason":"security_scanner"}`),
		}, nil, []string{"(delivery status notification)", "fetched by machines only"}, 3},
		{"bounced", []Event{
			ev(EventSent, "dlv_1", 0, `{"reply":"250 ok"}`),
			ev(EventBounced, "dlv_1", 3, `{"diagnostic":"smtp; 550 5.1.1 user unknown","raw_key":"k/dsn.eml","raw_sha256":"`+strings.Repeat("b", 64)+`","source":"dsn"}`),
		}, nil, []string{"Handed to our mail relay", "bounced at 2026-11-23 10:05:33 UTC: smtp; 550 5.1.1 user unknown"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.events {
				tt.events[i].Seq = int64(i + 1)
			}
			p := BuildProof(r, tt.events, nil, tt.hits)
			got := strings.Join(p.Summary, "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary lacks %q:\n%s", w, got)
				}
			}
			if p.Recipients[0].HighestLevel != tt.wantLevel {
				t.Errorf("highest level = %d, want %d", p.Recipients[0].HighestLevel, tt.wantLevel)
			}
			for _, e := range p.Timeline {
				if e.Machine && e.Counts {
					t.Errorf("machine event %s counts", e.Type)
				}
			}
		})
	}
}

func TestArtefactsAreFoundByConvention(t *testing.T) {
	sum := func(c string) string { return strings.Repeat(c, 64) }
	e := Event{Seq: 7, Type: EventBounced, Detail: json.RawMessage(`{"source":"dsn","raw_key":"t/i/dsn-1.eml","raw_sha256":"` + sum("b") + `",
		"nested":{"files":[{"key":"t/i/x.json","sha256":"` + sum("c") + `","kind":"provider_payload"}]},"payload_sha256":"` + sum("d") + `"}`)}
	got := artefactsOf(e)
	if len(got) != 2 {
		t.Fatalf("artefacts = %+v, want the DSN and the provider payload (a hash without a key is no artefact)", got)
	}
	if got[0].Name != "evidence/7-dsn-1.eml" || got[0].Kind != "dsn" || got[0].ContentType != "message/rfc822" {
		t.Errorf("dsn artefact = %+v", got[0])
	}
	if got[1].Kind != "provider_payload" || got[1].SHA256 != sum("c") {
		t.Errorf("payload artefact = %+v", got[1])
	}
}
