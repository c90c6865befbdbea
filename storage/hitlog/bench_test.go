package hitlog

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

// countStore counts what it is given and keeps nothing.
type countStore struct{ n int }

func (c *countStore) DrainedTo(context.Context, string) (Pos, error) { return Pos{}, nil }
func (c *countStore) StoreHits(_ context.Context, _ string, hits []gateway.TrackHit, _ Pos) error {
	c.n += len(hits)
	return nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordHit is the log's CPU per hit, everything in: the append, the
// disk goroutine's fdatasyncs and the drainer reading the hits back (cpu-ns/op counts
// every goroutine).
func BenchmarkRecordHit(b *testing.B) {
	store := &countStore{}
	l, err := Open(context.Background(), b.TempDir(), store, Options{DrainInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	h := testHit(1)
	h.UserAgent, h.Reason, h.IPPrefix = "", "automated_client", "127.0.0.0/24"
	b.ReportAllocs()
	cpu := processCPU()
	ctx := context.Background()
	for b.Loop() {
		h.At = time.Now()
		if err := l.RecordHit(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.WaitStored(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	_ = l.Close(ctx)
}
