package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
// Concurrent requests with one key are told apart by a transaction-scoped advisory
// lock on (tenant, key): the second gets KindIdempotencyInUse at once instead of
// waiting, and a later one finds the committed record and replays it.
func (db *DB) AcceptInvoice(ctx context.Context, r *gateway.Record, events []gateway.Event, idem *gateway.IdempotencyRecord) (*gateway.IdempotencyRecord, error) {
	doc, err := json.Marshal(r.Invoice)
	if err != nil {
		return nil, fmt.Errorf("encode invoice: %w", err)
	}
	totals, err := json.Marshal(r.Totals)
	if err != nil {
		return nil, fmt.Errorf("encode totals: %w", err)
	}
	var replay *gateway.IdempotencyRecord
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if idem != nil {
			var locked bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))`,
				idem.TenantID, idem.Key).Scan(&locked); err != nil {
				return err
			}
			if !locked {
				return gateway.Errorf(gateway.KindIdempotencyInUse, "a request with this Idempotency-Key is still being processed; retry in a moment")
			}
			prev, err := lookupIdempotency(ctx, tx, idem.TenantID, idem.Key)
			if err != nil {
				return err
			}
			if prev != nil {
				replay = prev
				return nil
			}
		}
		// One statement writes the invoice and its deliveries (a round trip saved per
		// invoice); no delivery row means the number was taken.
		var dIDs, dNames, dEmails, dMsgIDs []string
		var dBounces []*string
		for _, d := range r.Deliveries {
			dIDs, dNames, dEmails = append(dIDs, d.ID), append(dNames, d.Recipient.Name), append(dEmails, d.Recipient.Email)
			dMsgIDs, dBounces = append(dMsgIDs, d.MessageID), append(dBounces, nullIfEmpty(d.BounceToken))
		}
		tag, err := tx.Exec(ctx, `
			WITH inv AS (
				INSERT INTO invoices (id, tenant_id, number, customer_id, currency, issue_date, due_date,
					document, totals, total, amount_due, terms, terms_sha256, payload_sha256, status, created_at, updated_at,
					terms_version, terms_source)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18)
				ON CONFLICT (tenant_id, number) DO NOTHING
				RETURNING id, tenant_id, status, created_at)
			INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, message_id, bounce_token, updated_at, is_primary)
			SELECT d.id, inv.id, inv.tenant_id, d.name, d.email, inv.status, d.message_id, d.bounce_token, inv.created_at, d.n = 1
			FROM inv, unnest($19::text[], $20::text[], $21::text[], $22::text[], $23::text[]) WITH ORDINALITY AS d(id, name, email, message_id, bounce_token, n)`,
			r.ID, r.TenantID, r.Invoice.Number, r.Invoice.Customer.ID, r.Invoice.Currency,
			r.Invoice.IssueDate.Time, r.Invoice.DueDate.Time, doc, totals, r.Totals.Total, r.Totals.AmountDue,
			r.Terms, r.TermsSHA256, r.PayloadSHA256, r.Status, r.CreatedAt, r.TermsVersion, r.TermsSource,
			dIDs, dNames, dEmails, dMsgIDs, dBounces)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var existing string
			if err := tx.QueryRow(ctx, `SELECT id FROM invoices WHERE tenant_id = $1 AND number = $2`,
				r.TenantID, r.Invoice.Number).Scan(&existing); err != nil {
				return err
			}
			return &gateway.Error{Kind: gateway.KindConflict,
				Message: fmt.Sprintf("invoice number %q was already accepted", r.Invoice.Number),
				Detail:  map[string]string{"invoice_id": existing}}
		}
		if err := insertAttachments(ctx, tx, []*gateway.Record{r}); err != nil {
			return err
		}
		for _, e := range events {
			if err := insertEvent(ctx, tx, r.TenantID, e); err != nil {
				return err
			}
		}
		if err := db.enqueue(ctx, tx, []*gateway.Record{r}); err != nil {
			return err
		}
		if idem != nil {
			_, err := tx.Exec(ctx, `
				INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status, response, invoice_id)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (tenant_id, key) DO UPDATE SET request_sha256 = $3, status = $4, response = $5,
					invoice_id = $6, created_at = now()`,
				idem.TenantID, idem.Key, idem.RequestSHA256, idem.Status, idem.Response, idem.InvoiceID)
			return err
		}
		return nil
	})
	return replay, dbError(err, "invoice")
}

// insertDependents writes the deliveries and attachment rows of freshly inserted
// invoices with COPY: one round trip however many there are.
func insertDependents(ctx context.Context, tx pgx.Tx, rs []*gateway.Record) error {
	var dl [][]any
	for _, r := range rs {
		// The first delivery (the customer's contact) is primary: the invoice's status
		// follows it; cc copies have their own status only.
		for i, d := range r.Deliveries {
			dl = append(dl, []any{d.ID, r.ID, r.TenantID, d.Recipient.Name, d.Recipient.Email, string(d.Status), d.MessageID, nullIfEmpty(d.BounceToken), r.CreatedAt, i == 0})
		}
	}
	if len(dl) == 1 {
		// A single row is cheaper as a plain INSERT than a COPY.
		if _, err := tx.Exec(ctx, `
			INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, message_id, bounce_token, updated_at, is_primary)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, dl[0]...); err != nil {
			return err
		}
	} else if len(dl) > 1 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"deliveries"},
			[]string{"id", "invoice_id", "tenant_id", "recipient_name", "recipient_email", "status", "message_id", "bounce_token", "updated_at", "is_primary"},
			pgx.CopyFromRows(dl)); err != nil {
			return fmt.Errorf("copy deliveries: %w", err)
		}
	}
	return insertAttachments(ctx, tx, rs)
}

// insertAttachments writes the attachment rows of freshly inserted invoices.
func insertAttachments(ctx context.Context, tx pgx.Tx, rs []*gateway.Record) error {
	var at [][]any
	for _, r := range rs {
		for i, a := range r.Invoice.Attachments {
			at = append(at, []any{r.ID, i + 1, r.TenantID, a.Filename, a.Description, a.StoredType, a.Size, a.SHA256, a.Key, r.CreatedAt})
		}
	}
	if len(at) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"invoice_attachments"},
			[]string{"invoice_id", "n", "tenant_id", "filename", "description", "content_type", "size", "sha256", "key", "created_at"},
			pgx.CopyFromRows(at)); err != nil {
			return fmt.Errorf("copy attachments: %w", err)
		}
	}
	return nil
}

// enqueue inserts one delivery job per delivery in the invoice's transaction.
func (db *DB) enqueue(ctx context.Context, tx pgx.Tx, rs []*gateway.Record) error {
	var params []river.InsertManyParams
	for _, r := range rs {
		for _, d := range r.Deliveries {
			params = append(params, river.InsertManyParams{Args: gateway.DeliverJob{DeliveryID: d.ID},
				InsertOpts: &river.InsertOpts{MaxAttempts: db.deliverAttempts}})
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := db.queue.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
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

// CreateInvoices stores a batch in one transaction: one INSERT for all invoices
// (numbers already taken are skipped and reported), COPY for deliveries and
// attachments, insertEvent per event (it keeps the per-invoice event chain) and one
// InsertMany for the jobs.
func (db *DB) CreateInvoices(ctx context.Context, rs []*gateway.Record, events [][]gateway.Event) ([]gateway.ExistingInvoice, error) {
	n := len(rs)
	cols := struct {
		id, tenant, number, customer, currency, doc, totals, total, due, terms, termsSHA, payload, status, termsVersion, termsSource []string
		issue, dueDate, created                                                                                                      []time.Time
	}{}
	for _, r := range rs {
		doc, err := json.Marshal(r.Invoice)
		if err != nil {
			return nil, fmt.Errorf("encode invoice: %w", err)
		}
		totals, err := json.Marshal(r.Totals)
		if err != nil {
			return nil, fmt.Errorf("encode totals: %w", err)
		}
		cols.id = append(cols.id, r.ID)
		cols.tenant = append(cols.tenant, r.TenantID)
		cols.number = append(cols.number, r.Invoice.Number)
		cols.customer = append(cols.customer, r.Invoice.Customer.ID)
		cols.currency = append(cols.currency, r.Invoice.Currency)
		cols.issue = append(cols.issue, r.Invoice.IssueDate.Time)
		cols.dueDate = append(cols.dueDate, r.Invoice.DueDate.Time)
		cols.doc = append(cols.doc, string(doc))
		cols.totals = append(cols.totals, string(totals))
		cols.total = append(cols.total, r.Totals.Total)
		cols.due = append(cols.due, r.Totals.AmountDue)
		cols.terms = append(cols.terms, r.Terms)
		cols.termsSHA = append(cols.termsSHA, r.TermsSHA256)
		cols.payload = append(cols.payload, r.PayloadSHA256)
		cols.status = append(cols.status, string(r.Status))
		cols.created = append(cols.created, r.CreatedAt)
		cols.termsVersion = append(cols.termsVersion, r.TermsVersion)
		cols.termsSource = append(cols.termsSource, r.TermsSource)
	}
	existing := make([]gateway.ExistingInvoice, n)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
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
			RETURNING id`,
			cols.id, cols.tenant, cols.number, cols.customer, cols.currency, cols.issue, cols.dueDate, cols.doc,
			cols.totals, cols.total, cols.due, cols.terms, cols.termsSHA, cols.payload, cols.status, cols.created,
			cols.termsVersion, cols.termsSource)
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		ok := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			ok[id] = true
		}
		var fresh []*gateway.Record
		var taken []string
		for _, r := range rs {
			if ok[r.ID] {
				fresh = append(fresh, r)
			} else {
				taken = append(taken, r.Invoice.Number)
			}
		}
		if len(taken) > 0 {
			rows, err := tx.Query(ctx, `SELECT number, id, payload_sha256 FROM invoices WHERE tenant_id = $1 AND number = ANY($2)`,
				rs[0].TenantID, taken)
			if err != nil {
				return err
			}
			byNumber := map[string]gateway.ExistingInvoice{}
			for rows.Next() {
				var num string
				var ex gateway.ExistingInvoice
				if err := rows.Scan(&num, &ex.ID, &ex.PayloadSHA256); err != nil {
					return err
				}
				byNumber[num] = ex
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for i, r := range rs {
				if !ok[r.ID] {
					existing[i] = byNumber[r.Invoice.Number]
				}
			}
		}
		if err := insertDependents(ctx, tx, fresh); err != nil {
			return err
		}
		for i, r := range rs {
			if !ok[r.ID] {
				continue
			}
			for _, e := range events[i] {
				if err := insertEvent(ctx, tx, r.TenantID, e); err != nil {
					return err
				}
			}
		}
		return db.enqueue(ctx, tx, fresh)
	})
	return existing, dbError(err, "invoices")
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
