package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// DB is the Postgres store. It is safe for concurrent use.
type DB struct {
	pool  *pgxpool.Pool
	queue *river.Client[pgx.Tx] // insert-only: workers run in gateway/jobs
	// deliverAttempts bounds how often one delivery job is tried (see gateway/jobs).
	deliverAttempts int
	// accepts gathers concurrent AcceptInvoice calls into shared transactions.
	accepts acceptGroups
	// lastJobNotify is when delivery workers were last told of new jobs (UnixNano).
	lastJobNotify atomic.Int64
}

// Open connects to Postgres and checks the connection. minConns raises the pool's
// size above pgx's default (4 on a 2-core machine, which would queue every delivery
// worker and API request behind four connections); a pool_max_conns in the URL wins.
func Open(ctx context.Context, url string, minConns ...int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if len(minConns) > 0 && !strings.Contains(url, "pool_max_conns") && cfg.MaxConns < minConns[0] {
		cfg.MaxConns = minConns[0]
	}
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

// New wraps a pool. deliverAttempts is the MaxAttempts given to delivery jobs.
func New(pool *pgxpool.Pool, deliverAttempts int) (*DB, error) {
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("create job queue client: %w", err)
	}
	return &DB{pool: pool, queue: queue, deliverAttempts: deliverAttempts}, nil
}

// Pool exposes the pool for the job workers, which share it.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers; for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return gateway.Wrap(gateway.KindUnavailable, err, "database unreachable")
	}
	return nil
}

// dbError translates driver failures into domain kinds, once, here.
func dbError(err error, what string) error {
	if err == nil {
		return nil
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Wrap(gateway.KindNotFound, err, what+" not found")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return gateway.Wrap(gateway.KindUnavailable, err, what+": database did not answer in time")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "23505" {
			return gateway.Wrap(gateway.KindConflict, err, what+" already exists")
		}
		return gateway.Wrap(gateway.KindInternal, err, what+": database error")
	}
	// Anything else is a connection-level failure: retrying later helps.
	return gateway.Wrap(gateway.KindUnavailable, err, what+": database unavailable")
}

// CreateTenant stores a tenant with its first API key hash.
func (db *DB) CreateTenant(ctx context.Context, t gateway.Tenant, keyID string, keyHash []byte) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, default_terms) VALUES ($1, $2, NULLIF($3, ''))`,
			t.ID, t.Name, t.DefaultTerms); err != nil {
			return err
		}
		if t.DefaultTerms != "" {
			if err := addTermsVersion(ctx, tx, gateway.TermsVersion{ID: gateway.NewID("trm"), TenantID: t.ID,
				Text: t.DefaultTerms, SHA256: sha256Hex(t.DefaultTerms), CreatedAt: time.Now().UTC()}); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, tenant_id, key_hash, name) VALUES ($1, $2, $3, 'first key')`, keyID, t.ID, keyHash)
		return err
	})
	return dbError(err, "tenant")
}

// TenantByKeyHash returns the tenant owning a live API key. Errors: KindNotFound.
func (db *DB) TenantByKeyHash(ctx context.Context, hash []byte) (gateway.Tenant, error) {
	var t gateway.Tenant
	err := db.pool.QueryRow(ctx, `
		SELECT t.id, t.name, coalesce(t.default_terms, '')
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, hash).Scan(&t.ID, &t.Name, &t.DefaultTerms)
	return t, dbError(err, "api key")
}

// CreateInvoice and the rest of intake's storage live in intake.go.

const invoiceColumns = `i.id, i.tenant_id, i.document, i.totals, i.terms, i.terms_sha256, i.terms_version, i.terms_source,
	i.payload_sha256, i.status, i.pdf_key, i.pdf_sha256, i.pdf_size, i.created_at, i.updated_at`

func scanInvoice(row pgx.Row) (*gateway.Record, error) {
	var ir invoiceRow
	if err := row.Scan(ir.dest()...); err != nil {
		return nil, err
	}
	return ir.record()
}

// invoiceRow receives invoiceColumns, so that a query can scan them next to others.
type invoiceRow struct {
	r                 gateway.Record
	doc, totals       []byte
	pdfKey, pdfSHA256 *string
	pdfSize           *int64
}

func (ir *invoiceRow) dest() []any {
	r := &ir.r
	return []any{&r.ID, &r.TenantID, &ir.doc, &ir.totals, &r.Terms, &r.TermsSHA256, &r.TermsVersion, &r.TermsSource, &r.PayloadSHA256,
		&r.Status, &ir.pdfKey, &ir.pdfSHA256, &ir.pdfSize, &r.CreatedAt, &r.UpdatedAt}
}

func (ir *invoiceRow) record() (*gateway.Record, error) {
	r := ir.r
	if err := json.Unmarshal(ir.doc, &r.Invoice); err != nil {
		return nil, fmt.Errorf("decode stored invoice %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(ir.totals, &r.Totals); err != nil {
		return nil, fmt.Errorf("decode stored totals %s: %w", r.ID, err)
	}
	if ir.pdfKey != nil {
		r.PDF = &gateway.Object{Key: *ir.pdfKey, SHA256: *ir.pdfSHA256, Size: *ir.pdfSize}
	}
	return &r, nil
}

// Invoice returns one invoice of the tenant with its deliveries. Another tenant's
// invoice is KindNotFound, exactly like a missing one.
func (db *DB) Invoice(ctx context.Context, tenantID, id string) (*gateway.Record, error) {
	r, err := scanInvoice(db.pool.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices i WHERE i.id = $1 AND i.tenant_id = $2`, id, tenantID))
	if err != nil {
		return nil, dbError(err, "invoice")
	}
	r.Deliveries, err = db.deliveries(ctx, `WHERE invoice_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	return r, nil
}

const deliveryColumns = `d.id, d.invoice_id, d.tenant_id, d.recipient_name, d.recipient_email, d.status, d.attempts, d.message_id,
	coalesce(d.bounce_token, ''), coalesce(d.last_reply, ''), d.sent_at, d.updated_at, d.message_key, d.message_sha256, d.message_size`

func (db *DB) deliveries(ctx context.Context, where string, args ...any) ([]gateway.Delivery, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d `+where, args...)
	if err != nil {
		return nil, dbError(err, "deliveries")
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Delivery, error) {
		var dr deliveryRow
		err := row.Scan(dr.dest()...)
		return dr.delivery(), err
	})
	return ds, dbError(err, "deliveries")
}

// deliveryRow receives deliveryColumns.
type deliveryRow struct {
	d           gateway.Delivery
	key, sum    *string
	messageSize *int64
}

func (dr *deliveryRow) dest() []any {
	d := &dr.d
	return []any{&d.ID, &d.InvoiceID, &d.TenantID, &d.Recipient.Name, &d.Recipient.Email, &d.Status,
		&d.Attempts, &d.MessageID, &d.BounceToken, &d.LastReply, &d.SentAt, &d.UpdatedAt, &dr.key, &dr.sum, &dr.messageSize}
}

func (dr *deliveryRow) delivery() gateway.Delivery {
	d := dr.d
	if dr.key != nil && dr.sum != nil && dr.messageSize != nil {
		d.Message = &gateway.Object{Key: *dr.key, SHA256: *dr.sum, Size: *dr.messageSize}
	}
	return d
}

// Events returns an invoice's timeline, oldest first. Another tenant's invoice is
// KindNotFound.
func (db *DB) Events(ctx context.Context, tenantID, invoiceID string) ([]gateway.Event, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoices WHERE id = $1 AND tenant_id = $2)`,
		invoiceID, tenantID).Scan(&exists); err != nil {
		return nil, dbError(err, "invoice")
	}
	if !exists {
		return nil, gateway.Errorf(gateway.KindNotFound, "invoice %s not found", invoiceID)
	}
	rows, err := db.pool.Query(ctx, `
		SELECT id, invoice_id, coalesce(delivery_id, ''), type, level, at, detail
		FROM events WHERE invoice_id = $1 ORDER BY id`, invoiceID)
	if err != nil {
		return nil, dbError(err, "events")
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Event, error) {
		var e gateway.Event
		err := row.Scan(&e.ID, &e.InvoiceID, &e.DeliveryID, &e.Type, &e.Level, &e.At, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	return evs, dbError(err, "events")
}

// insertEvent appends e to its invoice's hash chain inside the caller's
// transaction: it links e to the previous event by hash, stores seq, prev_hash and
// hash, moves the chain head, and enqueues the webhooks that want e. Every event goes
// through here.
//
// When this process appended the invoice's previous event, it knows the head and
// tries one statement that moves the head only if it is still that one (one round
// trip). Otherwise, or when another writer moved the head meanwhile, it locks the
// head first (two round trips); concurrent writers of one invoice then take turns.
func insertEvent(ctx context.Context, tx pgx.Tx, tenantID string, e gateway.Event) error {
	var deliveryID *string
	if e.DeliveryID != "" {
		deliveryID = &e.DeliveryID
	}
	whType, _ := gateway.WebhookType(e)
	var endpoints []string
	stored := false
	if h, ok := chainHeads.get(e.InvoiceID); ok {
		e.Seq, e.PrevHash = h.seq+1, h.hash
		if err := sealEvent(&e); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			WITH head AS (
				UPDATE event_chains SET seq = $8, head = $10 WHERE invoice_id = $2 AND seq = $8 - 1 AND head = $9
				RETURNING invoice_id),
			ev AS (
				INSERT INTO events (tenant_id, invoice_id, delivery_id, type, level, at, detail, seq, prev_hash, hash)
				SELECT $1, $2, $3::text, $4::text, $5::int, $6::timestamptz, $7::jsonb, $8, $9, $10 FROM head
				RETURNING id)
			SELECT ev.id, `+webhookEndpointsSQL+` FROM ev`,
			tenantID, e.InvoiceID, deliveryID, e.Type, e.Level, e.At, []byte(e.Detail), e.Seq, e.PrevHash, e.Hash, whType,
		).Scan(&e.ID, &endpoints)
		switch {
		case err == nil:
			stored = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
	}
	if !stored {
		// The upsert takes the row lock of the chain head and returns the new sequence
		// number with the previous head in one round trip.
		if err := tx.QueryRow(ctx, `
			INSERT INTO event_chains (invoice_id, seq, head) VALUES ($1, 1, '')
			ON CONFLICT (invoice_id) DO UPDATE SET seq = event_chains.seq + 1
			RETURNING seq, head`, e.InvoiceID).Scan(&e.Seq, &e.PrevHash); err != nil {
			return fmt.Errorf("lock event chain: %w", err)
		}
		if err := sealEvent(&e); err != nil {
			return err
		}
		// One round trip stores the event, moves the chain head and finds the webhook
		// endpoints that want it (an empty webhook type matches none).
		if err := tx.QueryRow(ctx, `
			WITH ev AS (
				INSERT INTO events (tenant_id, invoice_id, delivery_id, type, level, at, detail, seq, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				RETURNING id),
			head AS (
				UPDATE event_chains SET head = $10 WHERE invoice_id = $2)
			SELECT ev.id, `+webhookEndpointsSQL+` FROM ev`,
			tenantID, e.InvoiceID, deliveryID, e.Type, e.Level, e.At, []byte(e.Detail), e.Seq, e.PrevHash, e.Hash, whType,
		).Scan(&e.ID, &endpoints); err != nil {
			return err
		}
	}
	chainHeads.put(e.InvoiceID, chainHead{e.Seq, e.Hash})
	return enqueueWebhooks(ctx, tx, tenantID, e, whType, endpoints)
}

// webhookEndpointsSQL selects the endpoints of tenant $1 that want webhook type $11
// (none for "").
const webhookEndpointsSQL = `coalesce((
	SELECT array_agg(w.id ORDER BY w.id) FROM webhook_endpoints w
	WHERE $11 <> '' AND w.tenant_id = $1 AND w.disabled_at IS NULL
		AND (cardinality(w.event_types) = 0 OR $11 = ANY (w.event_types))), '{}')`

// chainHead is where an invoice's chain ends: the last event's seq and hash.
type chainHead struct {
	seq  int64
	hash string
}

// chainHeads remembers the heads this process wrote last, as guesses for
// insertEvent. A guess is only ever used through a statement that checks it, so an
// entry left by a transaction that rolled back, or overtaken by another process,
// costs a round trip and nothing else.
var chainHeads = &headCache{heads: map[string]chainHead{}}

// maxCachedHeads bounds chainHeads; it is cleared when full.
const maxCachedHeads = 100_000

type headCache struct {
	mu    sync.Mutex
	heads map[string]chainHead
}

func (c *headCache) get(invoiceID string) (chainHead, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[invoiceID]
	return h, ok
}

func (c *headCache) put(invoiceID string, h chainHead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heads) >= maxCachedHeads {
		clear(c.heads)
	}
	c.heads[invoiceID] = h
}

// sealEvent puts e in the form it is stored and hashed in (microsecond time, which
// is what timestamptz keeps, and canonical detail) and computes its hash from Seq and
// PrevHash, which the caller has set.
func sealEvent(e *gateway.Event) error {
	e.At = evidence.TruncateTime(e.At)
	detail, err := evidence.Canonical(canonicalDetail(e.Detail))
	if err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "event detail is not valid JSON")
	}
	e.Detail = detail
	if e.Hash, err = e.Chained().ComputeHash(); err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "event could not be hashed")
	}
	return nil
}

// sealFirstEvents seals events, the first events of a new invoice, as the start of
// its hash chain: a new invoice's chain is empty, so each event's seq and prev_hash
// are known without locking a chain head, and the events go in with the invoice
// itself (insertInvoices) instead of two statements per event.
func sealFirstEvents(events []gateway.Event) ([]gateway.Event, error) {
	sealed := make([]gateway.Event, len(events))
	for i, e := range events {
		e.Seq, e.PrevHash = int64(i+1), ""
		if i > 0 {
			e.PrevHash = sealed[i-1].Hash
		}
		if err := sealEvent(&e); err != nil {
			return nil, err
		}
		sealed[i] = e
	}
	return sealed, nil
}

// RecordEvent appends one event.
func (db *DB) RecordEvent(ctx context.Context, tenantID string, e gateway.Event) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return insertEvent(ctx, tx, tenantID, e) })
	return dbError(err, "event")
}

// SetPDF records the archived PDF of an invoice together with its rendered and
// archived events, in a transaction of its own (a delivery records its PDF with its
// first message instead: SetMessageAndBeginSend). The first PDF archived wins: when
// another worker got there first, its object is returned and the events are not
// recorded again.
func (db *DB) SetPDF(ctx context.Context, r *gateway.Record, obj gateway.Object, events ...gateway.Event) (gateway.Object, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return recordPDF(ctx, tx, r.TenantID, r.ID, &gateway.NewPDF{Object: obj, Events: events})
	})
	if taken := (*gateway.PDFTakenError)(nil); errors.As(err, &taken) {
		return taken.Recorded, nil
	}
	if err != nil {
		return gateway.Object{}, dbError(err, "invoice pdf")
	}
	return obj, nil
}

// ResolveToken implements gateway.TokenResolver against the truth.
func (db *DB) ResolveToken(ctx context.Context, hash []byte) (gateway.Token, error) {
	t := gateway.Token{Hash: hash}
	err := db.pool.QueryRow(ctx, `SELECT kind, delivery_id, invoice_id, tenant_id FROM tracking_tokens WHERE hash = $1`, hash).
		Scan(&t.Kind, &t.DeliveryID, &t.InvoiceID, &t.TenantID)
	return t, dbError(err, "token")
}

var _ gateway.TokenResolver = (*DB)(nil)

// nullIfEmpty stores "" as NULL, for optional unique columns.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
