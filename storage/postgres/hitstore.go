package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/hitlog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// HitStore is where the local hit logs (storage/hitlog) are drained: each batch of
// hits, the evidence events of the first ones and the log's new drained position are
// one transaction. Safe for concurrent use.
type HitStore struct {
	pool *pgxpool.Pool

	// known holds the (delivery, event, class) keys whose first hit is committed: a
	// batch made only of known keys skips the look-up of firsts.
	mu    sync.Mutex
	known map[firstKey]struct{}
}

// maxKnownFirsts bounds the known-firsts set; it is cleared when full.
const maxKnownFirsts = 200_000

var _ hitlog.Store = (*HitStore)(nil)

func NewHitStore(pool *pgxpool.Pool) *HitStore {
	return &HitStore{pool: pool, known: map[firstKey]struct{}{}}
}

// DrainedTo implements hitlog.Store.
func (s *HitStore) DrainedTo(ctx context.Context, logID string) (hitlog.Pos, error) {
	var seg, off int64
	err := s.pool.QueryRow(ctx, `SELECT segment, "offset" FROM hit_log_positions WHERE log_id = $1`, logID).Scan(&seg, &off)
	if errors.Is(err, pgx.ErrNoRows) {
		return hitlog.Pos{}, nil
	}
	if err != nil {
		return hitlog.Pos{}, dbError(err, "hit log position")
	}
	return hitlog.Pos{Segment: uint64(seg), Offset: off}, nil
}

// StoreHits implements hitlog.Store.
func (s *HitStore) StoreHits(ctx context.Context, logID string, hits []gateway.TrackHit, to hitlog.Pos) error {
	// The gateway cleans user agents before they reach the log; cleaning again here
	// keeps a record written before that (or by a bug) from failing its batch, in
	// the COPY (text must be UTF-8) or in its evidence event (jsonb refuses NUL),
	// which would block the drain with every hit behind it.
	for i := range hits {
		hits[i].UserAgent = gateway.CleanUserAgent(hits[i].UserAgent)
	}
	s.mu.Lock()
	allKnown := true
	for _, h := range hits {
		if _, ok := s.known[keyOf(h)]; !ok {
			allKnown = false
			break
		}
	}
	s.mu.Unlock()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(hits) > 0 {
			if err := copyHits(ctx, tx, hits); err != nil {
				return err
			}
		}
		if !allKnown {
			if err := recordFirsts(ctx, tx, hits); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO hit_log_positions (log_id, segment, "offset") VALUES ($1, $2, $3)
			ON CONFLICT (log_id) DO UPDATE SET segment = $2, "offset" = $3, drained_at = now()`,
			logID, int64(to.Segment), to.Offset); err != nil {
			return fmt.Errorf("move hit log position: %w", err)
		}
		return nil
	})
	if err != nil {
		return dbError(err, "tracking hits")
	}
	if !allKnown {
		s.mu.Lock()
		if len(s.known) >= maxKnownFirsts {
			clear(s.known)
		}
		for _, h := range hits {
			s.known[keyOf(h)] = struct{}{}
		}
		s.mu.Unlock()
	}
	return nil
}

type firstKey struct{ delivery, event, class string }

// copyHitsSQL appends hits in COPY's binary format, encoded by appendCopyHit.
const copyHitsSQL = `COPY tracking_hits (tenant_id, invoice_id, delivery_id, token_kind, event_type, at, method,
	user_agent, ip_prefix, classification, reason) FROM STDIN (FORMAT binary)`

// copyHitsFields is the number of columns in copyHitsSQL.
const copyHitsFields = 11

// copyBufs holds the COPY buffers between batches.
var copyBufs = sync.Pool{New: func() any { return new([]byte) }}

// copyHits appends the hits with one COPY. The rows are encoded here rather than
// through pgx.CopyFrom: every hit is the same eleven strings and a time, and pgx's
// generic path (a []any per row, each value boxed and planned) cost more CPU per hit
// than the rest of the drain together.
func copyHits(ctx context.Context, tx pgx.Tx, hits []gateway.TrackHit) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := append((*bp)[:0], "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint32(buf, 0) // flags
	buf = binary.BigEndian.AppendUint32(buf, 0) // header extension length
	for _, h := range hits {
		buf = appendCopyHit(buf, h)
	}
	buf = binary.BigEndian.AppendUint16(buf, 0xffff) // trailer: -1 fields
	*bp = buf
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf), copyHitsSQL); err != nil {
		return fmt.Errorf("copy tracking hits: %w", err)
	}
	return nil
}

// appendCopyHit encodes one row of copyHitsSQL: a field count, then each field as
// a length and its bytes (-1 for NULL). Text is its UTF-8 bytes, as the server checks
// them; timestamptz is microseconds since 2000-01-01 UTC.
func appendCopyHit(buf []byte, h gateway.TrackHit) []byte {
	buf = binary.BigEndian.AppendUint16(buf, copyHitsFields)
	for _, s := range [...]string{h.TenantID, h.InvoiceID, h.DeliveryID, string(h.TokenKind), string(h.Event)} {
		buf = appendCopyText(buf, s)
	}
	buf = binary.BigEndian.AppendUint32(buf, 8)
	buf = binary.BigEndian.AppendUint64(buf, uint64(h.At.UnixMicro()-postgresEpochMicros))
	buf = appendCopyText(buf, h.Method)
	for _, s := range [...]string{h.UserAgent, h.IPPrefix} {
		if s == "" {
			buf = binary.BigEndian.AppendUint32(buf, 0xffffffff) // NULL: not recorded in this privacy mode
			continue
		}
		buf = appendCopyText(buf, s)
	}
	buf = appendCopyText(buf, h.Classification)
	return appendCopyText(buf, h.Reason)
}

func appendCopyText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

// postgresEpochMicros is 2000-01-01 UTC, where PostgreSQL's timestamps count from,
// in Unix microseconds.
const postgresEpochMicros = 946_684_800_000_000

func keyOf(h gateway.TrackHit) firstKey {
	return firstKey{h.DeliveryID, string(h.Event), h.Classification}
}

// recordFirsts marks which hits are the first of their kind and appends their
// evidence events, in the order the hits arrived.
func recordFirsts(ctx context.Context, tx pgx.Tx, hits []gateway.TrackHit) error {
	// One statement for the batch, keys sorted so that two drainers lock them in the
	// same order.
	firstOf := map[firstKey]int{}
	var keys []firstKey
	for i, h := range hits {
		k := keyOf(h)
		if _, seen := firstOf[k]; !seen {
			firstOf[k] = i
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
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
	// Evidence events through the one function that appends to the evidence log.
	idx := make([]int, 0, len(fresh))
	for _, k := range fresh {
		idx = append(idx, firstOf[k])
	}
	slices.Sort(idx)
	for _, i := range idx {
		h := hits[i]
		if err := insertEvent(ctx, tx, h.TenantID, h.Evidence()); err != nil {
			return fmt.Errorf("record %s evidence: %w", h.Event, err)
		}
	}
	return nil
}
