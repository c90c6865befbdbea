package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/jackc/pgx/v5"
)

var (
	_ gateway.ProofStore      = (*DB)(nil)
	_ gateway.DisputeStore    = (*DB)(nil)
	_ gateway.CheckpointStore = (*DB)(nil)
)

// canonicalDetail is what an empty detail is stored and hashed as.
func canonicalDetail(d json.RawMessage) json.RawMessage {
	if len(d) == 0 || string(d) == "null" {
		return json.RawMessage(`{}`)
	}
	return d
}

const chainEventsSQL = `
	SELECT id, invoice_id, coalesce(delivery_id, ''), type, level, at, detail,
		coalesce(seq, 0), coalesce(prev_hash, ''), coalesce(hash, '')
	FROM events WHERE invoice_id = $1 ORDER BY seq NULLS FIRST, id`

func scanChainEvent(row pgx.CollectableRow) (gateway.Event, error) {
	var e gateway.Event
	err := row.Scan(&e.ID, &e.InvoiceID, &e.DeliveryID, &e.Type, &e.Level, &e.At, &e.Detail, &e.Seq, &e.PrevHash, &e.Hash)
	e.At = e.At.UTC()
	return e, err
}

// ChainEvents returns every event of an invoice in chain order, Seq, PrevHash and
// Hash filled in. The caller has checked the tenant. Errors: KindUnavailable.
func (db *DB) ChainEvents(ctx context.Context, invoiceID string) ([]gateway.Event, error) {
	rows, err := db.pool.Query(ctx, chainEventsSQL, invoiceID)
	if err != nil {
		return nil, dbError(err, "events")
	}
	evs, err := pgx.CollectRows(rows, scanChainEvent)
	return evs, dbError(err, "events")
}

const hitCountsSQL = `
	SELECT h.delivery_id, h.event_type, h.classification, count(*), min(h.at), max(h.at)
	FROM deliveries d JOIN tracking_hits h ON h.delivery_id = d.id
	WHERE d.invoice_id = $1
	GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`

func scanHitCount(row pgx.CollectableRow) (gateway.HitCount, error) {
	var h gateway.HitCount
	err := row.Scan(&h.DeliveryID, &h.EventType, &h.Classification, &h.Count, &h.First, &h.Last)
	h.First, h.Last = h.First.UTC(), h.Last.UTC()
	return h, err
}

const invoiceDisputesSQL = `SELECT ` + disputeColumns + ` FROM disputes WHERE invoice_id = $1 AND tenant_id = $2
	ORDER BY opened_at DESC, id DESC`

// ProofEvidence implements gateway.ProofStore. It is the proof lookup's hot path, so
// it takes two concurrent round trips: the deliveries on one connection, and on
// another the invoice (checked to be the tenant's), its events, disputes and hit
// counts pipelined in one batch. Every query is scoped to the tenant or discarded
// when the invoice is not the tenant's.
func (db *DB) ProofEvidence(ctx context.Context, tenantID, invoiceID string) (*gateway.Record, []gateway.Event, []gateway.Dispute, []gateway.HitCount, error) {
	type deliveriesResult struct {
		ds  []gateway.Delivery
		err error
	}
	dch := make(chan deliveriesResult, 1)
	go func() {
		ds, err := db.deliveries(ctx, `WHERE invoice_id = $1 AND tenant_id = $2 ORDER BY id`, invoiceID, tenantID)
		dch <- deliveriesResult{ds, err}
	}()
	var (
		b    pgx.Batch
		r    *gateway.Record
		evs  []gateway.Event
		ds   []gateway.Dispute
		hits []gateway.HitCount
	)
	b.Queue(`SELECT `+invoiceColumns+` FROM invoices i WHERE i.id = $1 AND i.tenant_id = $2`, invoiceID, tenantID).
		QueryRow(func(row pgx.Row) (err error) {
			r, err = scanInvoice(row)
			return err
		})
	b.Queue(chainEventsSQL, invoiceID).Query(func(rows pgx.Rows) (err error) {
		evs, err = pgx.CollectRows(rows, scanChainEvent)
		return err
	})
	b.Queue(invoiceDisputesSQL, invoiceID, tenantID).Query(func(rows pgx.Rows) (err error) {
		ds, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Dispute, error) { return scanDispute(row) })
		return err
	})
	b.Queue(hitCountsSQL, invoiceID).Query(func(rows pgx.Rows) (err error) {
		hits, err = pgx.CollectRows(rows, scanHitCount)
		return err
	})
	err := db.pool.SendBatch(ctx, &b).Close()
	dr := <-dch
	if err != nil {
		// No invoice row for this tenant: the first query's ErrNoRows, not found.
		return nil, nil, nil, nil, dbError(err, "invoice")
	}
	if dr.err != nil {
		return nil, nil, nil, nil, dr.err
	}
	r.Deliveries = dr.ds
	if ds == nil {
		ds = []gateway.Dispute{}
	}
	return r, evs, ds, hits, nil
}

// CreateDispute implements gateway.DisputeStore.
func (db *DB) CreateDispute(ctx context.Context, d *gateway.Dispute, ev gateway.Event) error {
	files, err := json.Marshal(d.Attachments)
	if err != nil {
		return fmt.Errorf("encode dispute attachments: %w", err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoices WHERE id = $1 AND tenant_id = $2)`,
			d.InvoiceID, d.TenantID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return gateway.Errorf(gateway.KindNotFound, "invoice %s not found", d.InvoiceID)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO disputes (id, tenant_id, invoice_id, delivery_id, reason, note, source, opened_by, status, attachments, opened_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			d.ID, d.TenantID, d.InvoiceID, nullIfEmpty(d.DeliveryID), d.Reason, d.Note, d.Source, d.OpenedBy, d.Status, files, d.OpenedAt); err != nil {
			return err
		}
		return insertEvent(ctx, tx, d.TenantID, ev)
	})
	return dbError(err, "dispute")
}

// ResolveDispute implements gateway.DisputeStore.
func (db *DB) ResolveDispute(ctx context.Context, d *gateway.Dispute, ev gateway.Event) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE disputes SET status = $3, resolved_at = $4, outcome = $5, resolution = $6, resolved_by = $7
			WHERE id = $1 AND tenant_id = $2 AND status = 'open'`,
			d.ID, d.TenantID, d.Status, d.ResolvedAt, d.Outcome, d.Resolution, d.ResolvedBy)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return gateway.Errorf(gateway.KindConflict, "dispute %s is not open", d.ID)
		}
		return insertEvent(ctx, tx, d.TenantID, ev)
	})
	return dbError(err, "dispute")
}

const disputeColumns = `id, tenant_id, invoice_id, coalesce(delivery_id, ''), reason, note, source, opened_by, status,
	attachments, opened_at, resolved_at, coalesce(outcome, ''), coalesce(resolution, ''), coalesce(resolved_by, '')`

func scanDispute(row pgx.Row) (gateway.Dispute, error) {
	var d gateway.Dispute
	var files []byte
	if err := row.Scan(&d.ID, &d.TenantID, &d.InvoiceID, &d.DeliveryID, &d.Reason, &d.Note, &d.Source, &d.OpenedBy, &d.Status,
		&files, &d.OpenedAt, &d.ResolvedAt, &d.Outcome, &d.Resolution, &d.ResolvedBy); err != nil {
		return d, err
	}
	d.OpenedAt = d.OpenedAt.UTC()
	if d.ResolvedAt != nil {
		t := d.ResolvedAt.UTC()
		d.ResolvedAt = &t
	}
	if err := json.Unmarshal(files, &d.Attachments); err != nil {
		return d, fmt.Errorf("decode dispute %s attachments: %w", d.ID, err)
	}
	return d, nil
}

// Dispute implements gateway.DisputeStore.
func (db *DB) Dispute(ctx context.Context, tenantID, id string) (*gateway.Dispute, error) {
	d, err := scanDispute(db.pool.QueryRow(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if err != nil {
		return nil, dbError(err, "dispute")
	}
	return &d, nil
}

// Disputes implements gateway.DisputeStore.
func (db *DB) Disputes(ctx context.Context, tenantID, invoiceID string) ([]gateway.Dispute, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoices WHERE id = $1 AND tenant_id = $2)`,
		invoiceID, tenantID).Scan(&exists); err != nil {
		return nil, dbError(err, "invoice")
	}
	if !exists {
		return nil, gateway.Errorf(gateway.KindNotFound, "invoice %s not found", invoiceID)
	}
	rows, err := db.pool.Query(ctx, invoiceDisputesSQL, invoiceID, tenantID)
	if err != nil {
		return nil, dbError(err, "disputes")
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Dispute, error) { return scanDispute(row) })
	if err != nil {
		return nil, dbError(err, "disputes")
	}
	if ds == nil {
		ds = []gateway.Dispute{}
	}
	return ds, nil
}

// OpenDisputes returns the tenant's open disputes, oldest first, for worklists.
func (db *DB) OpenDisputes(ctx context.Context, tenantID string, limit int) ([]gateway.Dispute, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+disputeColumns+` FROM disputes WHERE tenant_id = $1 AND status = 'open'
		ORDER BY opened_at LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, dbError(err, "disputes")
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Dispute, error) { return scanDispute(row) })
	return ds, dbError(err, "disputes")
}

// LastCheckpoint implements gateway.CheckpointStore.
func (db *DB) LastCheckpoint(ctx context.Context) (*evidence.Checkpoint, error) {
	cp, err := scanCheckpoint(db.pool.QueryRow(ctx, `SELECT number, at, prev_hash, root, size, hash, signature
		FROM checkpoints ORDER BY number DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbError(err, "checkpoint")
	}
	return cp, nil
}

func scanCheckpoint(row pgx.Row) (*evidence.Checkpoint, error) {
	var cp evidence.Checkpoint
	var sig []byte
	if err := row.Scan(&cp.Number, &cp.At, &cp.PrevHash, &cp.Root, &cp.Size, &cp.Hash, &sig); err != nil {
		return nil, err
	}
	cp.At = cp.At.UTC()
	if err := json.Unmarshal(sig, &cp.Signature); err != nil {
		return nil, fmt.Errorf("decode checkpoint %d signature: %w", cp.Number, err)
	}
	return &cp, nil
}

// PendingHeads implements gateway.CheckpointStore.
func (db *DB) PendingHeads(ctx context.Context, limit int) ([]evidence.Head, error) {
	rows, err := db.pool.Query(ctx, `SELECT invoice_id, seq, head FROM event_chains
		WHERE seq > checkpointed_seq ORDER BY invoice_id LIMIT $1`, limit)
	if err != nil {
		return nil, dbError(err, "chain heads")
	}
	hs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (evidence.Head, error) {
		var h evidence.Head
		err := row.Scan(&h.InvoiceID, &h.Seq, &h.Hash)
		return h, err
	})
	return hs, dbError(err, "chain heads")
}

// SaveCheckpoint implements gateway.CheckpointStore. A checkpoint number taken by
// another instance meanwhile is KindConflict; nothing is stored then.
func (db *DB) SaveCheckpoint(ctx context.Context, cp evidence.Checkpoint, heads []evidence.Head) error {
	sig, err := json.Marshal(cp.Signature)
	if err != nil {
		return fmt.Errorf("encode checkpoint signature: %w", err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO checkpoints (number, at, prev_hash, root, size, hash, signature)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, cp.Number, cp.At, cp.PrevHash, cp.Root, cp.Size, cp.Hash, sig); err != nil {
			return err
		}
		ids, seqs := make([]string, len(heads)), make([]int64, len(heads))
		rows := make([][]any, len(heads))
		for i, h := range heads {
			ids[i], seqs[i] = h.InvoiceID, h.Seq
			rows[i] = []any{cp.Number, i, h.InvoiceID, h.Seq, h.Hash}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"checkpoint_heads"}, []string{"checkpoint", "position", "invoice_id", "seq", "hash"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		// Only forward: a writer may have moved a chain on since the heads were read.
		_, err := tx.Exec(ctx, `
			UPDATE event_chains c SET checkpointed_seq = h.seq
			FROM unnest($1::text[], $2::bigint[]) AS h(invoice_id, seq)
			WHERE c.invoice_id = h.invoice_id AND c.checkpointed_seq < h.seq`, ids, seqs)
		return err
	})
	return dbError(err, "checkpoint")
}

// CheckpointProof implements gateway.ProofStore.
func (db *DB) CheckpointProof(ctx context.Context, invoiceID string) (*evidence.CheckpointProof, error) {
	var number int64
	var position int
	err := db.pool.QueryRow(ctx, `SELECT checkpoint, position FROM checkpoint_heads
		WHERE invoice_id = $1 ORDER BY checkpoint DESC LIMIT 1`, invoiceID).Scan(&number, &position)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbError(err, "checkpoint")
	}
	cp, err := scanCheckpoint(db.pool.QueryRow(ctx, `SELECT number, at, prev_hash, root, size, hash, signature
		FROM checkpoints WHERE number = $1`, number))
	if err != nil {
		return nil, dbError(err, "checkpoint")
	}
	rows, err := db.pool.Query(ctx, `SELECT invoice_id, seq, hash FROM checkpoint_heads WHERE checkpoint = $1 ORDER BY position`, number)
	if err != nil {
		return nil, dbError(err, "checkpoint")
	}
	heads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (evidence.Head, error) {
		var h evidence.Head
		err := row.Scan(&h.InvoiceID, &h.Seq, &h.Hash)
		return h, err
	})
	if err != nil {
		return nil, dbError(err, "checkpoint")
	}
	if position >= len(heads) {
		return nil, gateway.Errorf(gateway.KindInternal, "checkpoint %d is incomplete", number)
	}
	leaves := make([][]byte, len(heads))
	for i, h := range heads {
		leaves[i] = h.Leaf()
	}
	path, err := evidence.InclusionProof(leaves, position)
	if err != nil {
		return nil, gateway.Wrap(gateway.KindInternal, err, "checkpoint proof")
	}
	return &evidence.CheckpointProof{Checkpoint: *cp, Head: heads[position], Index: position, Path: path}, nil
}
