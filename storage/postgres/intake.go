package postgres

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

var (
	_ gateway.IntakeStore = (*DB)(nil)
	_ gateway.KeyStore    = (*DB)(nil)
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// idempotencyTTL is how long an Idempotency-Key is remembered; the draft and Stripe
// both promise at least 24 hours.
const idempotencyTTL = "24 hours"

// CreateInvoice stores an accepted invoice with only its accepted event and no
// idempotency key: the short form tests use.
func (db *DB) CreateInvoice(ctx context.Context, r *gateway.Record, accepted gateway.Event) error {
	_, err := db.AcceptInvoice(ctx, r, []gateway.Event{accepted}, nil)
	return err
}

// AcceptInvoice stores an accepted invoice, its deliveries, attachments and events,
// enqueues one delivery job per delivery and, with idem, records the idempotency key,
// all in one transaction: a crash leaves either all of it or none.
//
// Invoices accepted at the same time share a transaction (group commit, see
// acceptGroup): one statement and one commit for all of them. Each call still
// returns only after its invoice is committed, with its own outcome.
//
// Concurrent requests with one key are told apart by a transaction-scoped advisory
// lock on (tenant, key): the second gets KindIdempotencyInUse at once instead of
// waiting, and a later one finds the committed record and replays it.
func (db *DB) AcceptInvoice(ctx context.Context, r *gateway.Record, events []gateway.Event, idem *gateway.IdempotencyRecord) (*gateway.IdempotencyRecord, error) {
	it, err := newInsertItem(r, events, idem)
	if err != nil {
		return nil, err
	}
	req := &acceptReq{ctx: ctx, item: it, done: make(chan struct{})}
	db.accepts.submit(req, db.acceptGroup)
	return req.replay, req.err
}

// CreateInvoices stores a batch in one transaction. Numbers the tenant already used
// are skipped and their invoices returned at their index; the zero value means the
// invoice was stored.
func (db *DB) CreateInvoices(ctx context.Context, rs []*gateway.Record, events [][]gateway.Event) ([]gateway.ExistingInvoice, error) {
	items := make([]*insertItem, len(rs))
	for i, r := range rs {
		var err error
		if items[i], err = newInsertItem(r, events[i], nil); err != nil {
			return nil, err
		}
	}
	var existing []gateway.ExistingInvoice
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) (err error) {
		existing, err = db.insertInvoices(ctx, tx, items)
		return err
	})
	return existing, dbError(err, "invoices")
}

// insertItem is one new invoice in the form insertArgs takes: encoded, its
// first events sealed. It is built before the transaction, so that encoding and
// hashing do not hold one open.
type insertItem struct {
	r       *gateway.Record
	doc     string
	totals  string
	events  []gateway.Event
	whTypes []string
	idem    *gateway.IdempotencyRecord
	wants   []webhookWant // filled by insertInvoices: stored events webhook endpoints want
}

// webhookWant is an event of an item (by index) and the endpoints that want it.
type webhookWant struct {
	i         int
	endpoints []string
}

func newInsertItem(r *gateway.Record, events []gateway.Event, idem *gateway.IdempotencyRecord) (*insertItem, error) {
	doc, err := json.Marshal(r.Invoice)
	if err != nil {
		return nil, fmt.Errorf("encode invoice: %w", err)
	}
	totals, err := json.Marshal(r.Totals)
	if err != nil {
		return nil, fmt.Errorf("encode totals: %w", err)
	}
	sealed, err := sealFirstEvents(events)
	if err != nil {
		return nil, err
	}
	it := &insertItem{r: r, doc: string(doc), totals: string(totals), events: sealed, whTypes: make([]string, len(sealed)), idem: idem}
	for i, e := range sealed {
		it.whTypes[i], _ = gateway.WebhookType(e)
	}
	return it, nil
}

// insertInvoicesSQL returns the statement that stores invoices with their
// deliveries, first events and chain heads, and with the parts it is asked for,
// attachment rows and idempotency keys, in one statement (parts without rows are
// left out: a smaller statement costs the server less to start). Every part joins
// the invoices the first INSERT returned, so the rows of an invoice whose number was
// taken go nowhere. Each stored delivery gets its River delivery job here too (the
// row River's InsertManyTx would write for gateway.DeliverJob with MaxAttempts
// $41: default queue and priority, available now), which saves the group commit a
// round trip and River's per-job encoding. It returns one row per stored invoice ('i') and one per stored
// event ('e', with its position in the input and the webhook endpoints that want it).
// Its arguments come from insertArgs.
func insertInvoicesSQL(attachments, keys bool) string {
	var b strings.Builder
	b.WriteString(`
	WITH inv AS (
		INSERT INTO invoices (id, tenant_id, number, customer_id, currency, issue_date, due_date,
			document, totals, total, amount_due, terms, terms_sha256, payload_sha256, status, created_at, updated_at,
			terms_version, terms_source)
		SELECT id, tenant_id, number, customer_id, currency, issue_date, due_date, document::jsonb, totals::jsonb,
			total::numeric, amount_due::numeric, terms, terms_sha256, payload_sha256, status, created_at, created_at,
			terms_version, terms_source
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::date[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[],
			$17::text[], $18::text[])
			AS u(id, tenant_id, number, customer_id, currency, issue_date, due_date, document, totals, total, amount_due,
			terms, terms_sha256, payload_sha256, status, created_at, terms_version, terms_source)
		ON CONFLICT (tenant_id, number) DO NOTHING
		RETURNING id, tenant_id),
	dl AS (
		INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, message_id, bounce_token,
			updated_at, is_primary)
		SELECT d.id, d.invoice_id, inv.tenant_id, d.name, d.email, d.status, d.message_id, d.bounce_token, d.updated_at, d.is_primary
		FROM unnest($19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[],
			$26::timestamptz[], $27::bool[]) AS d(id, invoice_id, name, email, status, message_id, bounce_token, updated_at, is_primary)
		JOIN inv ON inv.id = d.invoice_id
		RETURNING id),
	jobs AS (
		INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at, tags, metadata)
		SELECT jsonb_build_object('delivery_id', dl.id), '` + gateway.DeliverJob{}.Kind() + `', $41::smallint, ` + strconv.Itoa(river.PriorityDefault) + `,
			'` + river.QueueDefault + `', 'available', now(), '{}', '{}'
		FROM dl),
	evin AS (
		SELECT e.*, inv.tenant_id FROM unnest($28::text[], $29::text[], $30::text[], $31::int[], $32::timestamptz[], $33::text[],
			$34::bigint[], $35::text[], $36::text[], $37::text[]) WITH ORDINALITY
			AS e(invoice_id, delivery_id, type, level, at, detail, seq, prev_hash, hash, wh_type, n)
		JOIN inv ON inv.id = e.invoice_id),
	ev AS (
		INSERT INTO events (tenant_id, invoice_id, delivery_id, type, level, at, detail, seq, prev_hash, hash)
		SELECT tenant_id, invoice_id, delivery_id, type, level, at, detail::jsonb, seq, prev_hash, hash FROM evin ORDER BY n
		RETURNING id, invoice_id, seq),
	heads AS (
		INSERT INTO event_chains (invoice_id, seq, head)
		SELECT h.invoice_id, h.seq, h.head FROM unnest($38::text[], $39::bigint[], $40::text[]) AS h(invoice_id, seq, head)
		JOIN inv ON inv.id = h.invoice_id)`)
	n := 41
	if attachments {
		fmt.Fprintf(&b, `,
	att AS (
		INSERT INTO invoice_attachments (invoice_id, n, tenant_id, filename, description, content_type, size, sha256, key, created_at)
		SELECT a.invoice_id, a.n, inv.tenant_id, a.filename, a.description, a.content_type, a.size, a.sha256, a.key, a.created_at
		FROM unnest($%d::text[], $%d::int[], $%d::text[], $%d::text[], $%d::text[], $%d::bigint[], $%d::text[],
			$%d::text[], $%d::timestamptz[]) AS a(invoice_id, n, filename, description, content_type, size, sha256, key, created_at)
		JOIN inv ON inv.id = a.invoice_id)`, n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		n += 9
	}
	if keys {
		fmt.Fprintf(&b, `,
	idem AS (
		INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status, response, invoice_id)
		SELECT inv.tenant_id, k.key, k.request_sha256, k.status, k.response, k.invoice_id
		FROM unnest($%d::text[], $%d::text[], $%d::int[], $%d::bytea[], $%d::text[])
			AS k(key, request_sha256, status, response, invoice_id)
		JOIN inv ON inv.id = k.invoice_id
		ON CONFLICT (tenant_id, key) DO UPDATE SET request_sha256 = excluded.request_sha256, status = excluded.status,
			response = excluded.response, invoice_id = excluded.invoice_id, created_at = now())`, n+1, n+2, n+3, n+4, n+5)
	}
	b.WriteString(`
	SELECT 'i', inv.id, 0::bigint, 0::bigint, '{}'::text[] FROM inv
	UNION ALL
	SELECT 'e', ev.invoice_id, evin.n, ev.id, coalesce((
		SELECT array_agg(w.id ORDER BY w.id) FROM webhook_endpoints w
		WHERE evin.wh_type <> '' AND w.tenant_id = evin.tenant_id AND w.disabled_at IS NULL
			AND (cardinality(w.event_types) = 0 OR evin.wh_type = ANY (w.event_types))), '{}')
	FROM ev JOIN evin USING (invoice_id, seq)`)
	return b.String()
}

// eventRef places an event of the statement's input: item and index in its events.
type eventRef struct{ item, i int }

// insertArgs returns the statement that stores items, its arguments, and where each
// event of its input comes from.
func insertArgs(items []*insertItem, deliverAttempts int16) (string, []any, []eventRef) {
	var c struct {
		id, tenant, number, customer, currency, doc, totals, total, due, terms, termsSHA, payload, status, termsVersion, termsSource []string
		issue, dueDate, created                                                                                                      []time.Time
	}
	var dID, dInv, dName, dEmail, dStatus, dMsgID []string
	var dBounce []*string
	var dAt []time.Time
	var dPrimary []bool
	var aInv, aName, aDesc, aType, aSHA, aKey []string
	var aN []int32
	var aSize []int64
	var aAt []time.Time
	var eInv, eType, eDetail, ePrev, eHash, eWh []string
	var eDl []*string
	var eLevel []int32
	var eAt []time.Time
	var eSeq []int64
	var refs []eventRef
	var hInv, hHead []string
	var hSeq []int64
	var kKey, kSHA, kInv []string
	var kStatus []int32
	var kResp [][]byte
	for n, it := range items {
		r := it.r
		c.id, c.tenant, c.number = append(c.id, r.ID), append(c.tenant, r.TenantID), append(c.number, r.Invoice.Number)
		c.customer, c.currency = append(c.customer, r.Invoice.Customer.ID), append(c.currency, r.Invoice.Currency)
		c.issue, c.dueDate = append(c.issue, r.Invoice.IssueDate.Time), append(c.dueDate, r.Invoice.DueDate.Time)
		c.doc, c.totals = append(c.doc, it.doc), append(c.totals, it.totals)
		c.total, c.due = append(c.total, r.Totals.Total), append(c.due, r.Totals.AmountDue)
		c.terms, c.termsSHA, c.payload = append(c.terms, r.Terms), append(c.termsSHA, r.TermsSHA256), append(c.payload, r.PayloadSHA256)
		c.status, c.created = append(c.status, string(r.Status)), append(c.created, r.CreatedAt)
		c.termsVersion, c.termsSource = append(c.termsVersion, r.TermsVersion), append(c.termsSource, r.TermsSource)
		// The first delivery (the customer's contact) is primary: the invoice's status
		// follows it; cc copies have their own status only.
		for i, d := range r.Deliveries {
			dID, dInv, dName, dEmail = append(dID, d.ID), append(dInv, r.ID), append(dName, d.Recipient.Name), append(dEmail, d.Recipient.Email)
			dStatus, dMsgID, dBounce = append(dStatus, string(d.Status)), append(dMsgID, d.MessageID), append(dBounce, nullIfEmpty(d.BounceToken))
			dAt, dPrimary = append(dAt, r.CreatedAt), append(dPrimary, i == 0)
		}
		for i, a := range r.Invoice.Attachments {
			aInv, aN, aName, aDesc = append(aInv, r.ID), append(aN, int32(i+1)), append(aName, a.Filename), append(aDesc, a.Description)
			aType, aSize, aSHA, aKey, aAt = append(aType, a.StoredType), append(aSize, a.Size), append(aSHA, a.SHA256),
				append(aKey, a.Key), append(aAt, r.CreatedAt)
		}
		for i, e := range it.events {
			eInv, eDl, eType, eLevel = append(eInv, e.InvoiceID), append(eDl, nullIfEmpty(e.DeliveryID)), append(eType, string(e.Type)), append(eLevel, int32(e.Level))
			eAt, eDetail, eSeq, ePrev = append(eAt, e.At), append(eDetail, string(e.Detail)), append(eSeq, e.Seq), append(ePrev, e.PrevHash)
			eHash, eWh, refs = append(eHash, e.Hash), append(eWh, it.whTypes[i]), append(refs, eventRef{n, i})
		}
		if k := len(it.events); k > 0 {
			hInv, hSeq, hHead = append(hInv, r.ID), append(hSeq, it.events[k-1].Seq), append(hHead, it.events[k-1].Hash)
		}
		if k := it.idem; k != nil {
			kKey, kSHA, kStatus, kResp, kInv = append(kKey, k.Key), append(kSHA, k.RequestSHA256), append(kStatus, int32(k.Status)),
				append(kResp, k.Response), append(kInv, k.InvoiceID)
		}
	}
	args := []any{c.id, c.tenant, c.number, c.customer, c.currency, c.issue, c.dueDate, c.doc,
		c.totals, c.total, c.due, c.terms, c.termsSHA, c.payload, c.status, c.created, c.termsVersion, c.termsSource,
		dID, dInv, dName, dEmail, dStatus, dMsgID, dBounce, dAt, dPrimary,
		eInv, eDl, eType, eLevel, eAt, eDetail, eSeq, ePrev, eHash, eWh, hInv, hSeq, hHead, deliverAttempts}
	if len(aInv) > 0 {
		args = append(args, aInv, aN, aName, aDesc, aType, aSize, aSHA, aKey, aAt)
	}
	if len(kKey) > 0 {
		args = append(args, kKey, kSHA, kStatus, kResp, kInv)
	}
	return insertInvoicesSQL(len(aInv) > 0, len(kKey) > 0), args, refs
}

// insertInvoices stores items with their deliveries, attachments, first events and
// idempotency keys and delivery jobs in one statement, then enqueues their webhooks
// and tells the delivery workers.
// An invoice whose number its tenant already used is not stored: the existing one
// is returned at its index (the zero value for stored ones).
func (db *DB) insertInvoices(ctx context.Context, tx pgx.Tx, items []*insertItem) ([]gateway.ExistingInvoice, error) {
	if len(items) == 0 {
		return []gateway.ExistingInvoice{}, nil
	}
	b := &pgx.Batch{}
	read := db.queueInsert(b, items)
	br := tx.SendBatch(ctx, b)
	stored, err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return db.afterInsert(ctx, tx, items, stored)
}

// queueInsert queues on b the statement that stores items (non-empty) and returns
// the function that reads its result from b's results: which invoices were stored,
// by ID. It also notes the stored events' IDs and the webhooks that want them.
func (db *DB) queueInsert(b *pgx.Batch, items []*insertItem) func(pgx.BatchResults) (map[string]bool, error) {
	for _, it := range items {
		it.wants = nil // from an earlier attempt of a failed transaction
	}
	sql, args, refs := insertArgs(items, db.deliverJobAttempts())
	b.Queue(sql, args...)
	return func(br pgx.BatchResults) (map[string]bool, error) {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		stored := make(map[string]bool, len(items))
		for rows.Next() {
			var kind, invoiceID string
			var n, id int64
			var endpoints []string
			if err := rows.Scan(&kind, &invoiceID, &n, &id, &endpoints); err != nil {
				return nil, err
			}
			if kind == "i" {
				stored[invoiceID] = true
				continue
			}
			ref := refs[n-1]
			it := items[ref.item]
			it.events[ref.i].ID = id
			if len(endpoints) > 0 {
				it.wants = append(it.wants, webhookWant{ref.i, endpoints})
			}
		}
		return stored, rows.Err()
	}
}

// afterInsert finishes storing items in tx once the statement of queueInsert stored
// those in stored: it looks up the invoices whose numbers were taken (returned at
// their index, the zero value for stored ones), enqueues webhooks and tells the
// delivery workers.
func (db *DB) afterInsert(ctx context.Context, tx pgx.Tx, items []*insertItem, stored map[string]bool) ([]gateway.ExistingInvoice, error) {
	existing := make([]gateway.ExistingInvoice, len(items))
	jobs := false                  // whether a delivery job was inserted
	taken := map[string][]string{} // by tenant
	for _, it := range items {
		if stored[it.r.ID] {
			jobs = jobs || len(it.r.Deliveries) > 0
			if k := len(it.events); k > 0 {
				chainHeads.put(it.r.ID, chainHead{it.events[k-1].Seq, it.events[k-1].Hash})
			}
		} else {
			taken[it.r.TenantID] = append(taken[it.r.TenantID], it.r.Invoice.Number)
		}
	}
	if len(taken) > 0 {
		type tenantNumber struct{ tenant, number string }
		byNumber := map[tenantNumber]gateway.ExistingInvoice{}
		for tenant, numbers := range taken {
			rows, err := tx.Query(ctx, `SELECT number, id, payload_sha256 FROM invoices WHERE tenant_id = $1 AND number = ANY($2)`,
				tenant, numbers)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var num string
				var ex gateway.ExistingInvoice
				if err := rows.Scan(&num, &ex.ID, &ex.PayloadSHA256); err != nil {
					rows.Close()
					return nil, err
				}
				byNumber[tenantNumber{tenant, num}] = ex
			}
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
		for i, it := range items {
			if !stored[it.r.ID] {
				existing[i] = byNumber[tenantNumber{it.r.TenantID, it.r.Invoice.Number}]
			}
		}
	}
	for _, it := range items {
		for _, w := range it.wants {
			if err := enqueueWebhooks(ctx, tx, it.r.TenantID, it.events[w.i], it.whTypes[w.i], w.endpoints); err != nil {
				return nil, err
			}
		}
	}
	if !jobs {
		return existing, nil
	}
	return existing, db.notifyDeliveries(ctx, tx)
}

// deliverJobAttempts is the MaxAttempts of delivery jobs, defaulted and clamped to
// the smallint column as River's driver does (short retry intervals over a long
// horizon give more attempts than the column holds).
func (db *DB) deliverJobAttempts() int16 {
	return int16(min(cmp.Or(db.deliverAttempts, river.MaxAttemptsDefault), math.MaxInt16))
}

// notifyDeliveries tells the delivery workers, at most once per River's fetch
// cooldown, that jobs wait in the default queue: River's own insert notification
// (topic and payload as River sends them), which its InsertManyTx used to send when
// it inserted the jobs. Workers that miss one find the jobs at their next poll.
func (db *DB) notifyDeliveries(ctx context.Context, tx pgx.Tx) error {
	now := time.Now().UnixNano()
	last := db.lastJobNotify.Load()
	if now-last < int64(river.FetchCooldownDefault) || !db.lastJobNotify.CompareAndSwap(last, now) {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify(current_schema() || '.river_insert', $1)`,
		`{"queue": "`+river.QueueDefault+`"}`); err != nil {
		return fmt.Errorf("notify delivery workers: %w", err)
	}
	return nil
}

// LookupIdempotency returns the stored answer for a key still within its lifetime.
func (db *DB) LookupIdempotency(ctx context.Context, tenantID, key string) (*gateway.IdempotencyRecord, error) {
	rec, err := lookupIdempotency(ctx, db.pool, tenantID, key)
	return rec, dbError(err, "idempotency key")
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func lookupIdempotency(ctx context.Context, q querier, tenantID, key string) (*gateway.IdempotencyRecord, error) {
	rec := gateway.IdempotencyRecord{TenantID: tenantID, Key: key}
	var invoiceID *string
	err := q.QueryRow(ctx, `
		SELECT request_sha256, status, response, invoice_id FROM idempotency_keys
		WHERE tenant_id = $1 AND key = $2 AND created_at > now() - interval '`+idempotencyTTL+`'`, tenantID, key).
		Scan(&rec.RequestSHA256, &rec.Status, &rec.Response, &invoiceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if invoiceID != nil {
		rec.InvoiceID = *invoiceID
	}
	return &rec, nil
}

// DeleteExpiredIdempotencyKeys forgets keys past their lifetime (twice the promised
// 24 hours, to be safe against clock skew between replicas).
func (db *DB) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - interval '48 hours'`)
	return tag.RowsAffected(), dbError(err, "idempotency keys")
}

// ListInvoices returns one page of a tenant's invoices, newest first (ids are
// time-ordered), and whether more follow.
func (db *DB) ListInvoices(ctx context.Context, tenantID string, q gateway.ListQuery, today time.Time) ([]*gateway.Record, bool, error) {
	where := []string{"i.tenant_id = $1"}
	args := []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.StartingAfter != "" {
		add("i.id < ?", q.StartingAfter)
	}
	if q.CustomerID != "" {
		add("i.customer_id = ?", q.CustomerID)
	}
	if q.Status != "" {
		add("i.status = ?", string(q.Status))
	}
	if q.Number != "" {
		add("i.number = ?", q.Number)
	}
	if q.Overdue {
		add("i.due_date < ? AND i.amount_due > 0", today)
	}
	if !q.CreatedGTE.IsZero() {
		add("i.created_at >= ?", q.CreatedGTE)
	}
	if !q.CreatedLTE.IsZero() {
		add("i.created_at <= ?", q.CreatedLTE)
	}
	args = append(args, q.Limit+1)
	rows, err := db.pool.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices i WHERE `+strings.Join(where, " AND ")+
		` ORDER BY i.id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, false, dbError(err, "invoices")
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gateway.Record, error) { return scanInvoice(row) })
	if err != nil {
		return nil, false, dbError(err, "invoices")
	}
	more := len(rs) > q.Limit
	if more {
		rs = rs[:q.Limit]
	}
	if len(rs) == 0 {
		return rs, false, nil
	}
	ids := make([]string, len(rs))
	byID := make(map[string]*gateway.Record, len(rs))
	for i, r := range rs {
		ids[i], byID[r.ID] = r.ID, r
	}
	ds, err := db.deliveries(ctx, `WHERE invoice_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, false, err
	}
	for _, d := range ds {
		byID[d.InvoiceID].Deliveries = append(byID[d.InvoiceID].Deliveries, d)
	}
	return rs, more, nil
}

// AddAttachment records a proof document added after intake, with its archived event.
func (db *DB) AddAttachment(ctx context.Context, tenantID, invoiceID string, a *gateway.ProofDocument, e gateway.Event) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM invoices WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, invoiceID, tenantID).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO invoice_attachments (invoice_id, n, tenant_id, filename, description, content_type, size, sha256, key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			invoiceID, a.N, tenantID, a.Filename, a.Description, a.ContentType, a.Size, a.SHA256, a.Key, a.CreatedAt); err != nil {
			return err
		}
		return insertEvent(ctx, tx, tenantID, e)
	})
	return dbError(err, "invoice")
}

// Attachments lists an invoice's proof documents in the order they were added.
func (db *DB) Attachments(ctx context.Context, invoiceID string) ([]gateway.ProofDocument, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT n, filename, description, content_type, size, sha256, key, created_at
		FROM invoice_attachments WHERE invoice_id = $1 ORDER BY n`, invoiceID)
	if err != nil {
		return nil, dbError(err, "attachments")
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.ProofDocument, error) {
		var a gateway.ProofDocument
		err := row.Scan(&a.N, &a.Filename, &a.Description, &a.ContentType, &a.Size, &a.SHA256, &a.Key, &a.CreatedAt)
		a.CreatedAt = a.CreatedAt.UTC()
		return a, err
	})
	return as, dbError(err, "attachments")
}

func addTermsVersion(ctx context.Context, tx pgx.Tx, v gateway.TermsVersion) error {
	_, err := tx.Exec(ctx, `INSERT INTO terms_versions (id, tenant_id, customer_id, text, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.ID, v.TenantID, v.CustomerID, v.Text, v.SHA256, v.CreatedAt)
	return err
}

// AddTermsVersion stores a new version of default terms; the newest is in force.
func (db *DB) AddTermsVersion(ctx context.Context, v gateway.TermsVersion) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return addTermsVersion(ctx, tx, v) })
	return dbError(err, "terms")
}

// CurrentTerms returns the customer's default terms in force, or with fallback the
// tenant's when the customer has none. Version ids are time-ordered, so the newest
// is the greatest id.
func (db *DB) CurrentTerms(ctx context.Context, tenantID, customerID string, fallback bool) (gateway.TermsVersion, error) {
	v := gateway.TermsVersion{TenantID: tenantID}
	customers := []string{customerID}
	if fallback && customerID != "" {
		customers = append(customers, "")
	}
	err := db.pool.QueryRow(ctx, `
		SELECT id, customer_id, text, sha256, created_at FROM terms_versions
		WHERE tenant_id = $1 AND customer_id = ANY($2)
		ORDER BY customer_id DESC, id DESC LIMIT 1`, tenantID, customers).
		Scan(&v.ID, &v.CustomerID, &v.Text, &v.SHA256, &v.CreatedAt)
	v.CreatedAt = v.CreatedAt.UTC()
	return v, dbError(err, "terms")
}

// CreateAPIKey stores a new key's hash for a tenant.
func (db *DB) CreateAPIKey(ctx context.Context, k gateway.APIKey, hash []byte) error {
	tag, err := db.pool.Exec(ctx, `
		INSERT INTO api_keys (id, tenant_id, key_hash, name, hint, created_at)
		SELECT $1, id, $3, $4, $5, $6 FROM tenants WHERE id = $2`, k.ID, k.TenantID, hash, k.Name, k.Hint, k.CreatedAt)
	if err == nil && tag.RowsAffected() == 0 {
		return gateway.Errorf(gateway.KindNotFound, "tenant %s not found", k.TenantID)
	}
	return dbError(err, "api key")
}

const apiKeyColumns = `id, tenant_id, name, hint, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (gateway.APIKey, error) {
	k := gateway.APIKey{Object: "api_key"}
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Hint, &k.CreatedAt, &k.RevokedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k, err
}

// APIKeys lists a tenant's keys, revoked ones included, oldest first.
func (db *DB) APIKeys(ctx context.Context, tenantID string) ([]gateway.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, dbError(err, "api keys")
	}
	ks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.APIKey, error) { return scanAPIKey(row) })
	return ks, dbError(err, "api keys")
}

// RevokeAPIKey revokes one of the tenant's keys; revoking twice keeps the first time.
func (db *DB) RevokeAPIKey(ctx context.Context, tenantID, id string, at time.Time) (gateway.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `
		UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND tenant_id = $2
		RETURNING `+apiKeyColumns, id, tenantID, at))
	return k, dbError(err, "api key")
}
