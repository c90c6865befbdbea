package gateway

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// Small fakes of the Tracker's consumer-side interfaces: this is a unit test of the
// tracking rules; the storage side has its own integration tests.
type fakeTokens map[string]Token

func (f fakeTokens) ResolveToken(_ context.Context, hash []byte) (Token, error) {
	if t, ok := f[string(hash)]; ok {
		return t, nil
	}
	return Token{}, Errorf(KindNotFound, "token not found")
}

type fakeSettings struct{ s TrackingSettings }

func (f *fakeSettings) TrackingSettings(context.Context, string) (TrackingSettings, error) {
	return f.s, nil
}
func (f *fakeSettings) SetTrackingSettings(_ context.Context, _ string, s TrackingSettings) (TrackingSettings, error) {
	f.s = s
	return s, nil
}

type fakeLinks struct {
	sent   *time.Time
	recent []TokenKind
}

func (f *fakeLinks) LinksRevoked(context.Context, string) (bool, error) { return false, nil }
func (f *fakeLinks) RevokeLinks(context.Context, string, string) (time.Time, error) {
	return time.Time{}, nil
}
func (f *fakeLinks) DeliverySentAt(context.Context, string) (*time.Time, error) { return f.sent, nil }
func (f *fakeLinks) RecentHitKinds(context.Context, string, time.Time) ([]TokenKind, error) {
	return f.recent, nil
}

type fakeHits struct {
	mu   sync.Mutex
	hits []TrackHit
	err  error
}

func (f *fakeHits) RecordHit(ctx context.Context, h TrackHit) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits = append(f.hits, h)
	return nil
}

type fakeStore struct{ r *Record }

func (f fakeStore) Invoice(context.Context, string, string) (*Record, error) { return f.r, nil }

const personUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

type trackerRig struct {
	tr                        *Tracker
	hits                      *fakeHits
	settings                  *fakeSettings
	links                     *fakeLinks
	pixel, link, honeypot, nx string
}

func newRig(t *testing.T, mode PrivacyMode) *trackerRig {
	t.Helper()
	c, err := tracking.NewClassifier()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	sent := now.Add(-time.Hour)
	rig := &trackerRig{hits: &fakeHits{}, settings: &fakeSettings{s: DefaultTrackingSettings()}, links: &fakeLinks{sent: &sent}}
	rig.settings.s.PrivacyMode = mode
	toks := fakeTokens{}
	for _, kind := range []TokenKind{TokenPixel, TokenLink, TokenHoneypot} {
		tok, hash, err := tracking.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		toks[string(hash)] = Token{Hash: hash, Kind: kind, DeliveryID: "dlv_1", InvoiceID: "inv_1", TenantID: "ten_1"}
		switch kind {
		case TokenPixel:
			rig.pixel = tok
		case TokenLink:
			rig.link = tok
		case TokenHoneypot:
			rig.honeypot = tok
		}
	}
	rig.nx, _, _ = tracking.NewToken()
	rec := &Record{ID: "inv_1", TenantID: "ten_1"}
	rec.Invoice.DueDate = NewDate(now.AddDate(0, 0, 20))
	rig.tr = NewTracker(TrackerDeps{Tokens: toks, Store: fakeStore{rec}, Links: rig.links, Settings: rig.settings,
		Hits: rig.hits, Classifier: c, CSRFKey: []byte("k"), Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HitTimeout: 50 * time.Millisecond})
	return rig
}

func TestTrackerOpen(t *testing.T) {
	person := Hit{Method: "GET", UserAgent: personUA, IP: "81.2.69.160"}
	tests := []struct {
		name      string
		mode      PrivacyMode
		token     func(*trackerRig) string
		hit       Hit
		wantHits  int
		wantUA    string
		wantIP    string
		wantClass string
	}{
		{"records a person's open with agent and network in full mode", PrivacyFull, func(r *trackerRig) string { return r.pixel }, person, 1, personUA, "81.2.69.0/24", "human"},
		{"records without agent or network in anonymous mode", PrivacyAnonymous, func(r *trackerRig) string { return r.pixel }, person, 1, "", "", "human"},
		{"records nothing with tracking off", PrivacyOff, func(r *trackerRig) string { return r.pixel }, person, 0, "", "", ""},
		{"records nothing for an unknown token", PrivacyFull, func(r *trackerRig) string { return r.nx }, person, 0, "", "", ""},
		{"records nothing for a link token on the pixel", PrivacyFull, func(r *trackerRig) string { return r.link }, person, 0, "", "", ""},
		{"classifies Apple's prefetch as a machine", PrivacyFull, func(r *trackerRig) string { return r.pixel }, Hit{Method: "GET", UserAgent: "Mozilla/5.0", IP: "17.1.2.3"}, 1, "Mozilla/5.0", "17.1.2.0/24", "machine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newRig(t, tt.mode)
			if err := rig.tr.Open(context.Background(), tt.token(rig), tt.hit); err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			if len(rig.hits.hits) != tt.wantHits {
				t.Fatalf("recorded %d hits, want %d", len(rig.hits.hits), tt.wantHits)
			}
			if tt.wantHits == 0 {
				return
			}
			h := rig.hits.hits[0]
			if h.UserAgent != tt.wantUA || h.IPPrefix != tt.wantIP || h.Classification != tt.wantClass || h.Event != EventOpened || h.Evidence().Type != EventOpened {
				t.Errorf("hit = %+v, want ua %q ip %q class %s", h, tt.wantUA, tt.wantIP, tt.wantClass)
			}
		})
	}
}

func TestTrackerOpenReportsStorageFailure(t *testing.T) {
	tests := []struct {
		name string
		hits *fakeHits
	}{
		{"when the write fails", &fakeHits{err: Errorf(KindUnavailable, "database down")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newRig(t, PrivacyFull)
			rig.tr.d.Hits = tt.hits
			err := rig.tr.Open(context.Background(), rig.pixel, Hit{Method: "GET", UserAgent: personUA})
			if ErrorKind(err) != KindUnavailable {
				t.Errorf("Open() error = %v, want unavailable (the pixel then answers 503)", err)
			}
		})
	}
}

func TestTrackerClickHoneypotAndAllLinks(t *testing.T) {
	rig := newRig(t, PrivacyFull)
	ctx := context.Background()
	person := Hit{Method: "GET", UserAgent: personUA}

	target, err := rig.tr.Click(ctx, rig.honeypot, person)
	if err != nil || target != "" {
		t.Fatalf("Click(honeypot) = %q, %v; want no target", target, err)
	}
	if h := rig.hits.hits[0]; h.Classification != "machine" || h.Reason != "honeypot" || h.TokenKind != TokenHoneypot {
		t.Errorf("honeypot hit = %+v, want machine/honeypot", h)
	}

	rig.links.recent = []TokenKind{TokenHoneypot}
	target, err = rig.tr.Click(ctx, rig.link, person)
	if err != nil || target != "/i/"+rig.link {
		t.Fatalf("Click(link) = %q, %v; want the hosted page", target, err)
	}
	if h := rig.hits.hits[1]; h.Classification != "machine" || h.Reason != "all_links_at_once" {
		t.Errorf("link hit after the honeypot = %+v, want machine/all_links_at_once", h)
	}

	if _, err := rig.tr.Click(ctx, rig.pixel, person); ErrorKind(err) != KindNotFound {
		t.Errorf("Click(pixel token) error = %v, want not found", err)
	}
}

func TestTrackerAcknowledgeRefusesMachines(t *testing.T) {
	rig := newRig(t, PrivacyOff)
	var recorded []Event
	rig.tr.d.Events = eventRecorderFunc(func(e Event) { recorded = append(recorded, e) })
	ctx := context.Background()
	pv, err := rig.tr.PageAgain(ctx, rig.link)
	if err != nil {
		t.Fatal(err)
	}
	err = rig.tr.Acknowledge(ctx, rig.link, Hit{Method: "POST", UserAgent: "Proofpoint URL Defense/2.0"}, Form{CSRF: pv.CSRF, Name: "Jane"})
	if ErrorKind(err) != KindUnprocessable || len(recorded) != 0 {
		t.Errorf("a scanner's confirmation: error = %v, %d events; want refused, none", err, len(recorded))
	}
	if err := rig.tr.Acknowledge(ctx, rig.link, Hit{Method: "POST", UserAgent: personUA}, Form{CSRF: pv.CSRF, Name: " Jane Doe "}); err != nil {
		t.Fatalf("a person's confirmation: %v", err)
	}
	if len(recorded) != 1 || recorded[0].Type != EventAcknowledged || recorded[0].Level != 6 ||
		!jsonHas(recorded[0].Detail, `"name":"Jane Doe"`) {
		t.Errorf("recorded = %+v, want one acknowledged event at level 6 with the trimmed name", recorded)
	}
}

type eventRecorderFunc func(Event)

func (f eventRecorderFunc) RecordEvent(_ context.Context, _ string, e Event) error {
	f(e)
	return nil
}

func jsonHas(raw []byte, s string) bool { return strings.Contains(string(raw), s) }

func (f *fakeHits) WaitStored(context.Context) error { return nil }
