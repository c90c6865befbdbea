package hitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

// memStore is a fake of the drainer's Store: hits and positions in memory, with the
// same all-or-nothing promise as the database transaction.
type memStore struct {
	mu    sync.Mutex
	pos   map[string]Pos
	hits  []gateway.TrackHit
	fail  error // StoreHits fails with it while set
	calls int
}

func newMemStore() *memStore { return &memStore{pos: map[string]Pos{}} }

func (m *memStore) DrainedTo(_ context.Context, id string) (Pos, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[id], nil
}

func (m *memStore) StoreHits(_ context.Context, id string, hits []gateway.TrackHit, to Pos) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		return m.fail
	}
	if !m.pos[id].Before(to) {
		return fmt.Errorf("position %v does not move past %v", to, m.pos[id])
	}
	m.hits = append(m.hits, hits...)
	m.pos[id] = to
	return nil
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// reasons returns the stored hits' reasons (the tests number hits through them).
func (m *memStore) reasons() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, h := range m.hits {
		out = append(out, h.Reason)
	}
	return out
}

func testHit(i int) gateway.TrackHit {
	return gateway.TrackHit{TenantID: "ten", InvoiceID: "inv", DeliveryID: "del", TokenKind: gateway.TokenPixel,
		Event: gateway.EventOpened, At: time.Unix(1_700_000_000, int64(i)).UTC(), Method: "GET", UserAgent: "Mozilla/5.0",
		IPPrefix: "192.0.2.0/24", Classification: "human", Reason: fmt.Sprintf("hit-%d", i), PrivacyMode: gateway.PrivacyFull}
}

func open(t *testing.T, dir string, store Store, o Options) *Log {
	t.Helper()
	if o.DrainInterval == 0 {
		o.DrainInterval = time.Millisecond
	}
	l, err := Open(context.Background(), dir, store, o)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func record(t *testing.T, l *Log, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, to-from)
	for i := from; i < to; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.RecordHit(context.Background(), testHit(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("RecordHit() error = %v", err)
		}
	}
}

// waitDrained waits until the drainer has caught up with the written end.
func waitDrained(t *testing.T, l *Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		drained, written := l.Lag()
		if drained == written {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: at %v, written up to %v", drained, written)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wantExactlyOnce checks that hits 0..n-1 are stored once each.
func wantExactlyOnce(t *testing.T, m *memStore, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range m.reasons() {
		seen[r]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("hit-%d", i)]; c != 1 {
			t.Errorf("hit-%d stored %d times, want once", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("stored %d distinct hits, want %d", len(seen), n)
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRecordedHitsAreDrainedOnceWithEveryField(t *testing.T) {
	store := newMemStore()
	l := open(t, t.TempDir(), store, Options{})
	record(t, l, 0, 500)
	waitDrained(t, l)
	wantExactlyOnce(t, store, 500)
	got, want := store.hits[0], testHit(0)
	for _, h := range store.hits {
		if h.Reason == want.Reason {
			got = h
		}
	}
	if got != want {
		t.Errorf("drained hit = %+v, want %+v", got, want)
	}
}

func TestUndrainedHitsAreStoredAfterRestartExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	store := newMemStore()
	l := open(t, dir, store, Options{MaxBatch: 50})
	record(t, l, 0, 100)
	waitDrained(t, l)
	// The database goes away: hits are still accepted (they are in the log) but
	// not drained, and the process stops before it comes back.
	store.setFail(errors.New("database down"))
	record(t, l, 100, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); err == nil {
		t.Error("Close() with the store down = nil, want an error saying hits are left on disk")
	}
	if err := l.RecordHit(context.Background(), testHit(999)); !errors.Is(err, ErrClosed) || gateway.ErrorKind(err) != gateway.KindUnavailable {
		t.Errorf("RecordHit() after Close = %v, want ErrClosed as KindUnavailable", err)
	}

	store.setFail(nil)
	l2 := open(t, dir, store, Options{MaxBatch: 50})
	waitDrained(t, l2)
	wantExactlyOnce(t, store, 300)

	// Opening once more replays nothing: the position was stored with the hits.
	if err := l2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	l3 := open(t, dir, store, Options{})
	record(t, l3, 300, 310)
	waitDrained(t, l3)
	wantExactlyOnce(t, store, 310)
}

func TestATornLastRecordIsIgnoredAndLaterHitsStillDrain(t *testing.T) {
	tests := []struct {
		name string
		tail func(good []byte) []byte // bytes written after the last durable record
	}{
		{"header without its payload", func(good []byte) []byte { return good[:headerSize] }},
		{"payload cut short", func(good []byte) []byte { return good[:len(good)-3] }},
		{"bad checksum", func(good []byte) []byte {
			b := append([]byte(nil), good...)
			b[len(b)-1] ^= 0xff
			return b
		}},
		{"a few bytes, shorter than a header", func(good []byte) []byte { return good[:5] }},
		{"length beyond any record", func(good []byte) []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b, MaxRecord+1)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			store := newMemStore()
			store.setFail(errors.New("database down"))
			l := open(t, dir, store, Options{})
			record(t, l, 0, 20)
			_, end := l.Lag()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_ = l.Close(ctx)

			// What a crash in the middle of a write leaves behind.
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d%s", end.Segment, segmentSuffix)), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			torn := tt.tail(frame(nil, appendHit(nil, testHit(9999))))
			if _, err := f.WriteAt(torn, end.Offset); err != nil {
				t.Fatal(err)
			}
			f.Close()

			store.setFail(nil)
			l2 := open(t, dir, store, Options{})
			record(t, l2, 20, 40)
			waitDrained(t, l2)
			wantExactlyOnce(t, store, 40)
		})
	}
}

func TestSegmentsRotateAndDrainedOnesAreDeleted(t *testing.T) {
	dir := t.TempDir()
	store := newMemStore()
	store.setFail(errors.New("database down"))
	l := open(t, dir, store, Options{SegmentSize: 4096})
	for i := range 200 { // one at a time: each write is its own small batch
		if err := l.RecordHit(context.Background(), testHit(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segmentFiles(t, dir)); n < 5 {
		t.Fatalf("%d segments after 200 hits in 4 KiB segments, want several", n)
	}
	store.setFail(nil)
	waitDrained(t, l)
	wantExactlyOnce(t, store, 200)
	// Left: the segment being written and the next one, created ahead.
	_, written := l.Lag()
	files := segmentFiles(t, dir)
	for _, f := range files {
		var n uint64
		fmt.Sscanf(filepath.Base(f), "%d", &n)
		if n < written.Segment {
			t.Errorf("drained segment %s is still on disk", f)
		}
	}
	if len(files) > 2 {
		t.Errorf("segments left after the drain = %v, want the one being written and one created ahead", files)
	}
}

func TestASecondProcessCannotOpenTheSameDirectory(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, newMemStore(), Options{})
	_, err := Open(context.Background(), dir, newMemStore(), Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open() error = %v, want ErrLocked", err)
	}
}

func TestSegmentsBeforeTheDrainedPositionAreDeletedOnOpen(t *testing.T) {
	dir := t.TempDir()
	store := newMemStore()
	store.setFail(errors.New("database down"))
	l := open(t, dir, store, Options{SegmentSize: 4096})
	for i := range 100 {
		if err := l.RecordHit(context.Background(), testHit(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, end := l.Lag()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = l.Close(ctx)
	// Another run drained everything up to the last segment, stored its position and
	// died before deleting the files.
	store.setFail(nil)
	store.pos[l.ID()] = Pos{Segment: end.Segment}
	l2 := open(t, dir, store, Options{})
	waitDrained(t, l2)
	for _, f := range segmentFiles(t, dir) {
		var n uint64
		fmt.Sscanf(filepath.Base(f), "%d", &n)
		if n < end.Segment {
			t.Errorf("segment %s is before the drained position %v and still on disk", f, store.pos[l.ID()])
		}
	}
	drained := map[string]bool{}
	for _, r := range store.reasons() {
		drained[r] = true
	}
	if drained["hit-0"] {
		t.Error("a hit before the drained position was stored again")
	}
}

func TestHitRecordsRoundTrip(t *testing.T) {
	for _, h := range []gateway.TrackHit{testHit(1), {At: time.Unix(0, 0).UTC()}, {
		TenantID: "t", InvoiceID: "i", DeliveryID: "d", TokenKind: gateway.TokenHoneypot, Event: gateway.EventClicked,
		At: time.Date(2026, 12, 4, 1, 2, 3, 456789, time.UTC), Method: "HEAD", Classification: "machine", Reason: "head_request",
		PrivacyMode: gateway.PrivacyAnonymous}} {
		got, err := decodeHit(appendHit(nil, h), interner{})
		if err != nil || got != h {
			t.Errorf("decodeHit(appendHit(%+v)) = %+v, %v", h, got, err)
		}
	}
	b := appendHit(nil, testHit(1))
	for _, bad := range [][]byte{nil, {2}, b[:len(b)-1], append(b, 0)} {
		if _, err := decodeHit(bad, nil); err == nil {
			t.Errorf("decodeHit(%q) = nil error, want one", bad)
		}
	}
}

func TestWaitStoredReturnsOnceEveryEarlierHitIsStored(t *testing.T) {
	store := newMemStore()
	// A drain interval far longer than the test: only WaitStored's request drains.
	l := open(t, t.TempDir(), store, Options{DrainInterval: time.Hour})
	for round := range 3 {
		record(t, l, round*10, round*10+10)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.WaitStored(ctx)
		cancel()
		if err != nil {
			t.Fatalf("WaitStored() error = %v", err)
		}
		wantExactlyOnce(t, store, round*10+10)
	}

	store.setFail(errors.New("database down"))
	record(t, l, 30, 31)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.WaitStored(ctx); gateway.ErrorKind(err) != gateway.KindUnavailable {
		t.Errorf("WaitStored() with the store down = %v, want KindUnavailable", err)
	}
	store.setFail(nil) // so that Close can drain
}

func TestAStuckDiskAnswersUnavailableWithinTheWriteTimeout(t *testing.T) {
	store := newMemStore()
	l := open(t, t.TempDir(), store, Options{WriteTimeout: 100 * time.Millisecond, SyncEach: true})
	stuck := make(chan struct{})
	l.segs.sync = func(f *os.File) error { <-stuck; return fdatasync(f) } // set before the first write
	start := time.Now()
	err := l.RecordHit(context.Background(), testHit(1))
	if gateway.ErrorKind(err) != gateway.KindUnavailable {
		t.Errorf("RecordHit() on a stuck disk = %v, want KindUnavailable (the pixel then answers 503)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("RecordHit() on a stuck disk took %s; the write timeout should bound it", took)
	}
	close(stuck)
	// The disk recovers: the same log goes on working.
	if err := l.RecordHit(context.Background(), testHit(2)); err != nil {
		t.Fatalf("RecordHit() after the disk recovered = %v", err)
	}
	waitDrained(t, l)
}

func TestAHitIsAnsweredBeforeItsFdatasyncAndSyncedInTheBackground(t *testing.T) {
	store := newMemStore()
	l := open(t, t.TempDir(), store, Options{SyncInterval: 5 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	stuck := make(chan struct{})
	var syncs atomic.Int32
	l.segs.sync = func(f *os.File) error { <-stuck; syncs.Add(1); return fdatasync(f) } // set before the first write
	// The disk stalls: hits are still answered (a wait for their fdatasync would
	// fail after the 100ms write timeout) and still drained.
	record(t, l, 0, 50)
	waitDrained(t, l)
	wantExactlyOnce(t, store, 50)
	if syncs.Load() != 0 {
		t.Fatalf("%d fdatasyncs completed on a stalled disk", syncs.Load())
	}
	close(stuck)
	// The disk goroutine makes them durable on its own.
	_, written := l.Lag()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.segs.smu.Lock()
		synced := l.segs.synced
		l.segs.smu.Unlock()
		if !synced.Before(written) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("synced up to %v, written up to %v: the background fdatasync did not come", synced, written)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// frame is a record as appendRecord lays it out: what a torn write leaves part of.
func frame(buf, payload []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(payload, castagnoli))
	return append(append(buf, h[:]...), payload...)
}
