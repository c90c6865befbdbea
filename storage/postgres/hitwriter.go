package postgres

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// HitWriter stores tracking hits with group commit: concurrent RecordHit calls that
// arrive while a batch is being written share the next COPY and commit. Each call
// returns only after its hit is committed, so a hit answered with 2xx survives a
// kill -9 of the gateway. Throughput comes from batching, not from acknowledging
// before the commit. Safe for concurrent use.
type HitWriter struct {
	pool     *pgxpool.Pool
	reqs     chan *hitReq
	maxBatch int
	log      *slog.Logger
	quit     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once

	// known holds the (delivery, event, class) keys whose first hit is committed.
	// A batch made only of known keys is one autocommitted COPY: one statement, one
	// commit, the shortest wait a durable hit can have.
	mu    sync.Mutex
	known map[firstKey]struct{}
}

// flushTimeout bounds one batch's COPY and commit.
const flushTimeout = 10 * time.Second

// maxKnownFirsts bounds the known-firsts set; it is cleared when full.
const maxKnownFirsts = 200_000

type hitReq struct {
	h    gateway.TrackHit
	done chan error
}

var _ gateway.HitRecorder = (*HitWriter)(nil)

// NewHitWriter starts writers goroutines that each commit up to maxBatch hits at a
// time. Two writers keep one batch filling while the other commits.
func NewHitWriter(pool *pgxpool.Pool, writers, maxBatch int, log *slog.Logger) *HitWriter {
	w := &HitWriter{pool: pool, reqs: make(chan *hitReq, maxBatch*writers), maxBatch: maxBatch, log: log,
		quit: make(chan struct{}), known: map[firstKey]struct{}{}}
	for range writers {
		w.wg.Add(1)
		go w.run()
	}
	return w
}

// RecordHit queues h for the next batch and waits for its commit. Errors:
// KindUnavailable when the database fails or ctx ends first (the hit may then still
// be committed; it is not reported as stored).
func (w *HitWriter) RecordHit(ctx context.Context, h gateway.TrackHit) error {
	req := &hitReq{h: h, done: make(chan error, 1)}
	select {
	case w.reqs <- req:
	case <-w.quit:
		return gateway.Errorf(gateway.KindUnavailable, "hit writer stopped")
	case <-ctx.Done():
		return gateway.Wrap(gateway.KindUnavailable, ctx.Err(), "tracking hit not queued in time")
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return gateway.Wrap(gateway.KindUnavailable, ctx.Err(), "tracking hit not committed in time")
	}
}

// Close stops the writers after the queued hits are written.
func (w *HitWriter) Close() {
	w.stopOnce.Do(func() { close(w.quit) })
	w.wg.Wait()
}

func (w *HitWriter) run() {
	defer w.wg.Done()
	batch := make([]*hitReq, 0, w.maxBatch)
	for {
		var first *hitReq
		select {
		case first = <-w.reqs:
		case <-w.quit:
			// Drain what was queued before the stop.
			for {
				select {
				case r := <-w.reqs:
					w.flush([]*hitReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.flush(batch)
	}
}

func (w *HitWriter) flush(batch []*hitReq) {
	// The batch outlives any one request's context: its commit decides for all. The
	// deadline keeps a stuck database from stalling the writer for good.
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	err := w.write(ctx, batch)
	if err != nil {
		w.log.Error("tracking hits not stored", "hits", len(batch), "err", err)
		err = dbError(err, "tracking hits")
	}
	for _, r := range batch {
		r.done <- err
	}
}

type firstKey struct{ delivery, event, class string }

var hitColumns = []string{"tenant_id", "invoice_id", "delivery_id", "token_kind", "event_type", "at", "method",
	"user_agent", "ip_prefix", "classification", "reason"}

// copier is what CopyFrom runs on: the pool (autocommit) or a transaction.
type copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

func copyHits(ctx context.Context, c copier, batch []*hitReq) error {
	rows := make([][]any, len(batch))
	for i, r := range batch {
		h := r.h
		rows[i] = []any{h.TenantID, h.InvoiceID, h.DeliveryID, string(h.TokenKind), string(h.Event), h.At, h.Method,
			nullable(h.UserAgent), nullable(h.IPPrefix), h.Classification, h.Reason}
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"tracking_hits"}, hitColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy tracking hits: %w", err)
	}
	return nil
}

func keyOf(h gateway.TrackHit) firstKey {
	return firstKey{h.DeliveryID, string(h.Event), h.Classification}
}

func (w *HitWriter) write(ctx context.Context, batch []*hitReq) error {
	w.mu.Lock()
	allKnown := true
	for _, r := range batch {
		if _, ok := w.known[keyOf(r.h)]; !ok {
			allKnown = false
			break
		}
	}
	w.mu.Unlock()
	if allKnown {
		// COPY is one statement: without a transaction around it, it commits on its own.
		return copyHits(ctx, w.pool, batch)
	}
	err := w.writeWithEvidence(ctx, batch)
	if err == nil {
		w.mu.Lock()
		if len(w.known) >= maxKnownFirsts {
			clear(w.known)
		}
		for _, r := range batch {
			w.known[keyOf(r.h)] = struct{}{}
		}
		w.mu.Unlock()
	}
	return err
}

// writeWithEvidence stores the batch and the evidence events of its first hits in
// one transaction.
func (w *HitWriter) writeWithEvidence(ctx context.Context, batch []*hitReq) error {
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if err := copyHits(ctx, tx, batch); err != nil {
			return err
		}

		// Which hits are the first of their kind: one statement for the batch, keys
		// sorted so that two writers lock them in the same order.
		firstOf := map[firstKey]int{}
		var keys []firstKey
		for i, r := range batch {
			k := keyOf(r.h)
			if _, seen := firstOf[k]; !seen {
				firstOf[k] = i
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b firstKey) int {
			return cmp.Or(cmp.Compare(a.delivery, b.delivery), cmp.Compare(a.event, b.event), cmp.Compare(a.class, b.class))
		})
		ds, es, cs := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			ds[i], es[i], cs[i] = k.delivery, k.event, k.class
		}
		newRows, err := tx.Query(ctx, `
			INSERT INTO tracking_firsts (delivery_id, event_type, classification)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
			ON CONFLICT DO NOTHING
			RETURNING delivery_id, event_type, classification`, ds, es, cs)
		if err != nil {
			return fmt.Errorf("mark first hits: %w", err)
		}
		var fresh []firstKey
		for newRows.Next() {
			var k firstKey
			if err := newRows.Scan(&k.delivery, &k.event, &k.class); err != nil {
				newRows.Close()
				return err
			}
			fresh = append(fresh, k)
		}
		if err := newRows.Err(); err != nil {
			return err
		}
		// Evidence events in the order the hits arrived, through the one function
		// that appends to the evidence log.
		idx := make([]int, 0, len(fresh))
		for _, k := range fresh {
			idx = append(idx, firstOf[k])
		}
		slices.Sort(idx)
		for _, i := range idx {
			h := batch[i].h
			if err := insertEvent(ctx, tx, h.TenantID, h.Evidence); err != nil {
				return fmt.Errorf("record %s evidence: %w", h.Event, err)
			}
		}
		return nil
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// OpenHitPool opens the hit writers' own pool of conns connections: one per writer,
// so that the pixel path never queues behind other queries for a connection.
func OpenHitPool(ctx context.Context, url string, conns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.MaxConns, cfg.MinConns = conns, conns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}
