package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPasswordHash(t *testing.T) {
	hash, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q, want a PHC argon2id string with its parameters", hash)
	}
	other, _ := HashPassword("correct horse battery staple")
	if other == hash {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
	cases := []struct {
		name, encoded, password string
		want                    bool
		wantErr                 bool
	}{
		{"accepts the right password", hash, "correct horse battery staple", true, false},
		{"refuses a wrong password", hash, "correct horse battery stapl", false, false},
		{"refuses an empty password", hash, "", false, false},
		{"rejects another algorithm", strings.Replace(hash, "argon2id", "argon2i", 1), "correct horse battery staple", false, true},
		{"rejects a truncated hash", hash[:len(hash)-50], "correct horse battery staple", false, true},
		{"rejects zero parameters", strings.Replace(hash, "t=2", "t=0", 1), "correct horse battery staple", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := VerifyPassword(c.encoded, c.password)
			if got != c.want || (err != nil) != c.wantErr {
				t.Errorf("got %v, %v; want %v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestArtefactsOfReadsEventDetails(t *testing.T) {
	sha := func(c string) string { return strings.Repeat(c, 64) }
	detail := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	r := &Record{Invoice: Invoice{Number: "INV-1"}, PDF: &Object{Key: "inv/1.pdf", SHA256: sha("a"), Size: 10}}
	evs := []Event{
		{Type: EventArchived, Detail: detail(map[string]any{"key": "inv/1.pdf", "sha256": sha("a"), "size": 10})},
		{Type: EventSent, Detail: detail(map[string]any{"message_key": "inv/1/message.eml", "message_sha256": sha("b")})},
		{Type: EventBounced, Detail: detail(map[string]any{"dsn": map[string]any{"key": "inv/1/dsn.eml", "sha256": sha("c")}})},
		{Type: EventOpened, Detail: detail(map[string]any{"classification": "machine"})},
		{Type: EventSent, Detail: detail(map[string]any{"key": "x", "sha256": "short"})},
		{Type: EventSent, Detail: json.RawMessage(`"not an object"`)},
	}
	got := ArtefactsOf(r, evs)
	var names []string
	for _, a := range got {
		names = append(names, a.Name+"@"+string(a.Event))
	}
	want := "invoice-INV-1.pdf@archived message.eml@sent dsn.eml@bounced"
	if strings.Join(names, " ") != want {
		t.Errorf("artefacts %q, want %q", strings.Join(names, " "), want)
	}
}

func TestInvoiceViewTimeline(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 1, 10, 0, s, 0, time.UTC) }
	f := &InvoiceFile{
		Record: &Record{ID: "inv_1", Invoice: Invoice{Number: "INV-1", DueDate: NewDate(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))},
			Deliveries: []Delivery{{ID: "dlv_1", Recipient: Contact{Email: "jane@globex.test"}}}},
		Events: []Event{
			NewEvent("inv_1", "dlv_1", EventSent, at(3), map[string]string{"reply": "250 ok"}),
			NewEvent("inv_1", "", EventAccepted, at(1), nil),
			NewEvent("inv_1", "dlv_1", EventOpened, at(4), map[string]string{"classification": "machine", "reason": "apple_mpp"}),
			NewEvent("inv_1", "dlv_1", EventBounced, at(5), map[string]string{"reason": "550 no such user"}),
		},
		Today: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	v := f.View(func(string) string { return "" })
	var order []string
	for _, row := range v.Timeline {
		order = append(order, row.Type)
	}
	if got, want := strings.Join(order, " "), "accepted sent opened bounced"; got != want {
		t.Errorf("timeline %q, want oldest first %q", got, want)
	}
	if v.Highest != 2 {
		t.Errorf("highest %d, want 2 (the machine open does not count)", v.Highest)
	}
	open, bounce := v.Timeline[2], v.Timeline[3]
	if !open.Machine || open.Reason != "apple_mpp" || open.Level != 4 {
		t.Errorf("open row %+v, want machine with reason apple_mpp at level 4", open)
	}
	if !bounce.Negative || bounce.Level != NoLevel || bounce.Rungs[0] {
		t.Errorf("bounce row %+v, want negative without level", bounce)
	}
	if v.Ladder[4].Recorded != 0 || v.Ladder[4].Machine != 1 || v.Ladder[2].Recorded != 1 {
		t.Errorf("ladder %+v, want sent recorded and the open as a machine hit only", v.Ladder)
	}
	if v.DaysOverdue != 30 || v.Timeline[1].Recipient != "jane@globex.test" {
		t.Errorf("days overdue %d, recipient %q", v.DaysOverdue, v.Timeline[1].Recipient)
	}
}
