package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway/evidence"
)

// busyChains is a CheckpointStore whose chains keep growing: every look at the
// pending heads finds the backlog not yet checkpointed plus arriving new heads, as
// under steady intake.
type busyChains struct {
	backlog  int // heads pending before the first call
	arriving int // new heads per call
	next     int
	calls    int
	pending  []evidence.Head
	saved    []evidence.Checkpoint
}

func (s *busyChains) PendingHeads(_ context.Context, limit int) ([]evidence.Head, error) {
	if s.calls++; s.calls > 100 {
		return nil, Errorf(KindUnavailable, "still checkpointing after 100 looks at the pending heads")
	}
	add := s.arriving
	if s.next == 0 {
		add = s.backlog
	}
	for range add {
		s.next++
		s.pending = append(s.pending, evidence.Head{InvoiceID: fmt.Sprintf("inv_%06d", s.next), Seq: 1, Hash: strings.Repeat("a", 64)})
	}
	return s.pending[:min(limit, len(s.pending))], nil
}

func (s *busyChains) LastCheckpoint(context.Context) (*evidence.Checkpoint, error) {
	if len(s.saved) == 0 {
		return nil, nil
	}
	return &s.saved[len(s.saved)-1], nil
}

func (s *busyChains) SaveCheckpoint(_ context.Context, cp evidence.Checkpoint, heads []evidence.Head) error {
	s.saved = append(s.saved, cp)
	s.pending = s.pending[len(heads):]
	return nil
}

type discardArchive struct{ puts int }

func (a *discardArchive) Put(context.Context, string, string, []byte) error { a.puts++; return nil }
func (a *discardArchive) Get(context.Context, string) ([]byte, error) {
	return nil, Errorf(KindNotFound, "nothing is kept")
}

// TestCheckpointCoversTheBacklogAndLeavesNewHeadsForTheNextTick: a backlog larger
// than one checkpoint takes several, but heads that arrive while it is being
// checkpointed wait for the next call instead of keeping this one going (it used to
// go on until none was pending, which under steady intake is never).
func TestCheckpointCoversTheBacklogAndLeavesNewHeadsForTheNextTick(t *testing.T) {
	priv, _, _ := evidence.GenerateKey()
	key, _ := evidence.ParsePrivateKey(priv)
	tests := []struct {
		name              string
		backlog, arriving int
		want              int
	}{
		{"nothing pending", 0, 0, 0},
		{"a backlog within one checkpoint", 7, 3, 1},
		{"a backlog of two and a half checkpoints", 25, 1, 3},
		{"a backlog of exactly one checkpoint, then new heads", 10, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, arch := &busyChains{backlog: tt.backlog, arriving: tt.arriving}, &discardArchive{}
			c := NewCheckpointer(store, arch, evidence.NewSigner(key), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
			c.maxHeads = 10
			made, err := c.Checkpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if made != tt.want || len(store.saved) != tt.want || arch.puts != tt.want {
				t.Errorf("got %d checkpoints (%d saved, %d archived), want %d", made, len(store.saved), arch.puts, tt.want)
			}
			covered := 0
			for _, cp := range store.saved {
				covered += cp.Size
			}
			if covered < tt.backlog {
				t.Errorf("got %d heads checkpointed, want at least the backlog of %d", covered, tt.backlog)
			}
		})
	}
}
