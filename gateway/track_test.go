package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTrackingSettingsValidate(t *testing.T) {
	tests := []struct {
		name       string
		s          TrackingSettings
		wantFields []string
	}{
		{"accepts the defaults", DefaultTrackingSettings(), nil},
		{"accepts full with a short retention", TrackingSettings{PrivacyFull, 1, 0, nil}, nil},
		{"rejects an unknown mode", TrackingSettings{"spy", 396, 120, nil}, []string{"privacy_mode"}},
		{"names every bad field at once", TrackingSettings{"", 0, -1, nil}, []string{"privacy_mode", "raw_retention_days", "link_expiry_days_after_due"}},
		{"rejects a retention over ten years", TrackingSettings{PrivacyOff, 3651, 120, nil}, []string{"raw_retention_days"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.s.Validate(); err != nil {
				for _, f := range err.(*Error).Fields {
					got = append(got, f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("Validate() fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestLinksExpireAt(t *testing.T) {
	due := time.Date(2026, 12, 23, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		days int
		want time.Time
	}{
		{"expires at the end of the 120th day after the due date", 120, time.Date(2027, 4, 23, 0, 0, 0, 0, time.UTC)}, // Apr 22 is the 120th day
		{"with 0 days, at the end of the due date", 0, time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultTrackingSettings()
			s.LinkExpiryDaysAfterDue = tt.days
			if got := s.LinksExpireAt(due); !got.Equal(tt.want) {
				t.Errorf("LinksExpireAt(%s) = %s, want %s", due, got, tt.want)
			}
		})
	}
}

func TestCSRFToken(t *testing.T) {
	tr := NewTracker(TrackerDeps{CSRFKey: []byte("k")})
	other := NewTracker(TrackerDeps{CSRFKey: []byte("another key")})
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tok := tr.csrfToken("link-a", now)
	tests := []struct {
		name  string
		tr    *Tracker
		link  string
		value string
		at    time.Time
		want  bool
	}{
		{"accepts its own token", tr, "link-a", tok, now.Add(time.Hour), true},
		{"rejects it for another link", tr, "link-b", tok, now, false},
		{"rejects it after 24 hours", tr, "link-a", tok, now.Add(25 * time.Hour), false},
		{"rejects a token from the future", tr, "link-a", tok, now.Add(-time.Hour), false},
		{"rejects it under another key", other, "link-a", tok, now, false},
		{"rejects garbage", tr, "link-a", "AAAA", now, false},
		{"rejects an empty token", tr, "link-a", "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tr.csrfValid(tt.link, tt.value, tt.at); got != tt.want {
				t.Errorf("csrfValid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSummariseCountsOnlyHumanEvidence(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ev := func(typ EventType, class string) Event {
		d, _ := json.Marshal(map[string]string{"classification": class, "reason": "r"})
		return Event{Type: typ, Level: typ.Level(), At: at, Detail: d}
	}
	tests := []struct {
		name          string
		evs           []Event
		hits          []RawHit
		wantSeen      bool
		wantStrongest int
	}{
		{"machine opens and clicks prove nothing", []Event{ev(EventOpened, "machine"), ev(EventClicked, "machine")},
			[]RawHit{{Event: "opened", Classification: "machine", Reason: "apple_mpp"}}, false, NoLevel},
		{"a human open counts at level 4", []Event{ev(EventOpened, "machine"), ev(EventOpened, "human")}, nil, true, 4},
		{"an acknowledgement counts at level 6", []Event{ev(EventViewed, "human"), ev(EventAcknowledged, "human")}, nil, true, 6},
		{"negative events are ignored", []Event{ev(EventBounced, "")}, nil, false, NoLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarise("inv", tt.evs, tt.hits)
			if got.SeenByPerson != tt.wantSeen || got.Strongest != tt.wantStrongest {
				t.Errorf("summarise() = seen %v, strongest %d; want %v, %d", got.SeenByPerson, got.Strongest, tt.wantSeen, tt.wantStrongest)
			}
		})
	}
	got := summarise("inv", nil, []RawHit{{Event: "opened", Classification: "machine", Reason: "apple_mpp"},
		{Event: "opened", Classification: "machine", Reason: "apple_mpp"}, {Event: "opened", Classification: "human", Reason: "browser"}})
	if s := got.Signals[EventOpened]; s.MachineHits != 2 || s.HumanHits != 1 || strings.Join(s.MachineReasons, ",") != "apple_mpp" {
		t.Errorf("opened signal = %+v, want 2 machine (apple_mpp), 1 human", s)
	}
}

// FuzzCSRFValid: whatever a client posts as the form token, checking it neither
// panics nor accepts anything but a token issued for that link within 24 hours.
func FuzzCSRFValid(f *testing.F) {
	tr := NewTracker(TrackerDeps{CSRFKey: []byte("fuzz key")})
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	valid := tr.csrfToken("link", now)
	for _, seed := range []string{valid, "", "AAAA", valid + "A", valid[:len(valid)-1], "%%%"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if tr.csrfValid("link", value, now) && value != valid {
			t.Fatalf("csrfValid accepted %q, which was never issued", value)
		}
	})
}

func TestCleanUserAgent(t *testing.T) {
	long := strings.Repeat("a", maxUserAgent-1) + "é" // the last character would cross the bound
	tests := []struct{ name, in, want string }{
		{"keeps a usual agent as it is", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"},
		{"keeps valid UTF-8 and tabs", "Agent Ünï\tcode", "Agent Ünï\tcode"},
		{"replaces invalid UTF-8", "Agent \xff\xfe/1.0", "Agent \uFFFD/1.0"},
		{"drops NUL and other controls", "Agent\x00/1.0\x7f\x1b", "Agent/1.0"},
		{"cuts a long agent at a character boundary", long, strings.Repeat("a", maxUserAgent-1)},
		{"keeps the empty agent empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CleanUserAgent(tt.in)
			if got != tt.want {
				t.Errorf("CleanUserAgent(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) || len(got) > maxUserAgent {
				t.Errorf("CleanUserAgent(%q) = %q: not valid UTF-8 or longer than %d bytes", tt.in, got, maxUserAgent)
			}
		})
	}
}
