package hitlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

// Store is where the drainer copies the log. Implemented by storage/postgres.
type Store interface {
	// DrainedTo returns how far the log with this id has been stored: every record
	// before the position is in the store. The zero Pos when it never was.
	// Errors: KindUnavailable.
	DrainedTo(ctx context.Context, logID string) (Pos, error)
	// StoreHits stores hits, with the evidence events of those that are the first of
	// their kind, and records to as the log's drained position, in one transaction:
	// after a crash either both are stored or neither, so no hit is stored twice or
	// skipped. Errors: KindUnavailable.
	StoreHits(ctx context.Context, logID string, hits []gateway.TrackHit, to Pos) error
}

// Options tune a Log; zero values take the defaults.
type Options struct {
	// SegmentSize is how much each segment file preallocates (default 64 MiB).
	SegmentSize int64
	// DrainInterval is the pause between drains while hits keep coming (default
	// 50ms): longer means fewer, larger transactions and hits later in the store.
	DrainInterval time.Duration
	// MaxBatch bounds the hits stored in one transaction (default 10000).
	MaxBatch int
	// WriteTimeout bounds how long RecordHit waits for the disk (default 3s).
	WriteTimeout time.Duration
	// SyncInterval is how often the written hits are made durable with fdatasync
	// (default 100ms). RecordHit returns once its hit is in the page cache: it then
	// survives the process ending, kill -9 included; a crash of the machine loses
	// what was written since the last fdatasync.
	SyncInterval time.Duration
	// SyncEach makes RecordHit wait until an fdatasync covers its hit (shared by
	// the hits written meanwhile), so that a machine crash loses nothing answered.
	SyncEach bool
	Log      *slog.Logger
}

// Log records tracking hits durably on local disk and drains them into a Store.
// One process owns a directory at a time. Safe for concurrent use.
type Log struct {
	segs     *segments
	store    Store
	interval time.Duration
	maxBatch int
	log      *slog.Logger

	mu        sync.Mutex
	drained   Pos
	drainedCh chan struct{} // closed when drained moves
	kick      chan struct{} // a caller of WaitStored is waiting: drain without a pause

	stopping  chan struct{} // drain what is left, then stop
	abort     context.CancelFunc
	runCtx    context.Context
	drainDone chan struct{}
	closeOnce sync.Once
}

var _ gateway.HitRecorder = (*Log)(nil)

// storeTimeout bounds one drain transaction.
const storeTimeout = 30 * time.Second

// Open takes the directory (creating it), asks the store how far this log was
// drained, deletes the segments before that and starts the writer and the drainer:
// whatever a previous process left undrained is stored first. Errors: ErrLocked when
// another process owns the directory; the store's errors.
func Open(ctx context.Context, dir string, store Store, o Options) (*Log, error) {
	if o.DrainInterval <= 0 {
		o.DrainInterval = 50 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 10_000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	segs, err := openSegments(dir, o)
	if err != nil {
		return nil, err
	}
	pos, err := store.DrainedTo(ctx, segs.id)
	if err != nil {
		segs.unlock()
		return nil, fmt.Errorf("read hit log position: %w", err)
	}
	if err := segs.removeBefore(pos.Segment); err != nil {
		segs.unlock()
		return nil, err
	}
	if err := segs.start(pos); err != nil {
		segs.unlock()
		return nil, err
	}
	runCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	l := &Log{segs: segs, store: store, interval: o.DrainInterval, maxBatch: o.MaxBatch, log: o.Log,
		drained: pos, drainedCh: make(chan struct{}), kick: make(chan struct{}, 1), stopping: make(chan struct{}), abort: abort, runCtx: runCtx, drainDone: make(chan struct{})}
	go l.drain()
	return l, nil
}

// ID is the log's identity, under which the store keeps its drained position.
func (l *Log) ID() string { return l.segs.id }

// RecordHit appends h to the log and returns once it survives the end of this
// process (with Options.SyncEach: once it is durable on disk); the drainer stores it
// shortly after. Errors: KindUnavailable when the log cannot be written, is closed,
// or the disk does not keep up within the write timeout or before ctx ends (the hit
// may then still be stored).
func (l *Log) RecordHit(ctx context.Context, h gateway.TrackHit) error {
	var buf [256]byte // on the stack: a hit with a longer user agent grows it onto the heap
	if err := l.segs.appendRecord(ctx, appendHit(buf[:0], h)); err != nil {
		return gateway.Wrap(gateway.KindUnavailable, err, "tracking hit not recorded")
	}
	return nil
}

// WaitStored waits until every hit recorded before the call is in the store, with
// its evidence event. The pixel does not wait for this; the paths whose answer
// depends on the evidence being readable at once do. Errors: KindUnavailable when
// ctx ends first (the hits stay durable and are stored later).
func (l *Log) WaitStored(ctx context.Context) error {
	target := l.segs.end()
	for {
		l.mu.Lock()
		drained, moved := l.drained, l.drainedCh
		l.mu.Unlock()
		if !drained.Before(target) {
			return nil
		}
		select {
		case l.kick <- struct{}{}:
		default:
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return gateway.Wrap(gateway.KindUnavailable, ctx.Err(), "tracking hits not stored in time")
		}
	}
}

// Lag is how far the drainer is behind the end of the written hits.
func (l *Log) Lag() (drained, written Pos) {
	l.mu.Lock()
	drained = l.drained
	l.mu.Unlock()
	return drained, l.segs.end()
}

// Close stops taking hits, drains what was written into the store until ctx ends,
// and releases the directory. What is left undrained stays on disk for the next
// Open of the directory.
func (l *Log) Close(ctx context.Context) error {
	var err error
	l.closeOnce.Do(func() {
		l.segs.closeWriter()
		close(l.stopping)
		select {
		case <-l.drainDone:
		case <-ctx.Done():
			err = fmt.Errorf("hit log not fully drained before shutdown (kept on disk for the next start): %w", ctx.Err())
		}
		l.abort()
		<-l.drainDone
		l.segs.unlock()
	})
	return err
}

func (l *Log) drain() {
	defer close(l.drainDone)
	r := &reader{s: l.segs}
	defer r.closeFile()
	var hits []gateway.TrackHit
	strs := interner{}
	var backoff time.Duration
	for {
		l.mu.Lock()
		pos := l.drained
		l.mu.Unlock()
		next, err := l.readBatch(r, pos, &hits, strs)
		if err == nil && next != pos {
			ctx, cancel := context.WithTimeout(l.runCtx, storeTimeout)
			err = l.store.StoreHits(ctx, l.segs.id, hits, next)
			cancel()
			if err == nil {
				backoff = 0
				if next.Segment > pos.Segment {
					if rerr := l.segs.removeBefore(next.Segment); rerr != nil {
						l.log.Warn("drained hit log segments not removed", "err", rerr)
					}
				}
				l.mu.Lock()
				l.drained = next
				close(l.drainedCh)
				l.drainedCh = make(chan struct{})
				l.mu.Unlock()
			}
		}
		switch {
		case err != nil:
			if l.runCtx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, 500*time.Millisecond), 30*time.Second)
			l.log.Error("tracking hits not drained into the database; retrying", "from", pos.String(), "retry_in", backoff, "err", err)
			if !l.sleep(backoff, false) {
				return
			}
		case next != pos && len(hits) >= l.maxBatch:
			// More is waiting: go on at once.
		case next != pos:
			if !l.sleep(l.interval, true) {
				return
			}
		default:
			// Everything written is drained.
			select {
			case <-l.stopping:
				return
			case <-l.runCtx.Done():
				return
			case <-l.kick: // drain at once
			case <-l.segs.written:
				// Let hits gather for one larger transaction.
				if !l.sleep(l.interval, true) {
					return
				}
			}
		}
	}
}

// readBatch reads up to maxBatch hits from pos into *hits, their strings shared
// through strs, and returns the position after them.
func (l *Log) readBatch(r *reader, pos Pos, hits *[]gateway.TrackHit, strs interner) (Pos, error) {
	*hits = (*hits)[:0]
	next := pos
	for len(*hits) < l.maxBatch {
		p, err := r.read(next, func(b []byte) {
			h, err := decodeHit(b, strs)
			if err != nil {
				// A record that passed its checksum but does not decode was written by a
				// different version of this code; holding the log back for it would stop
				// every hit after it.
				l.log.Error("unreadable tracking hit record skipped", "at", next.String(), "err", err)
				return
			}
			*hits = append(*hits, h)
		})
		if err != nil {
			return pos, err
		}
		if p == next {
			break
		}
		next = p
	}
	return next, nil
}

// sleep waits d. With cutShort, stopping (drain the rest without pauses) or a
// waiting WaitStored ends it early; a retry backoff is never cut short. False when
// aborted.
func (l *Log) sleep(d time.Duration, cutShort bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	stopping, kick := l.stopping, l.kick
	if !cutShort {
		stopping, kick = nil, nil
	}
	select {
	case <-t.C:
		return true
	case <-stopping:
		return true
	case <-kick:
		return true
	case <-l.runCtx.Done():
		return false
	}
}
