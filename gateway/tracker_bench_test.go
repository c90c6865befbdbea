package gateway

import (
	"context"
	"testing"
)

type discardHits struct{ fakeHits }

func (*discardHits) RecordHit(context.Context, TrackHit) error { return nil }

// BenchmarkTrackerOpen is the pixel's own work per hit, without the HTTP layer
// and the hit log: token cache, policy cache, classification, the hit built.
func BenchmarkTrackerOpen(b *testing.B) {
	rig := newRig(&testing.T{}, PrivacyFull)
	rig.tr.d.Hits = &discardHits{}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hit  Hit
	}{
		{"no user agent", Hit{Method: "GET", IP: "127.0.0.1"}},
		{"browser", Hit{Method: "GET", UserAgent: personUA, IP: "81.2.69.160"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := rig.tr.Open(ctx, rig.pixel, tc.hit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
