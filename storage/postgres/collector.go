package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ gateway.CollectorStore = (*DB)(nil)

// CreateCollectorUser stores a collector user. An unknown tenant is KindNotFound, an
// e-mail already in use KindConflict.
func (db *DB) CreateCollectorUser(ctx context.Context, u gateway.CollectorUser) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO collector_users (id, tenant_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.TenantID, u.Email, u.PasswordHash, u.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return gateway.Wrap(gateway.KindNotFound, err, "tenant "+u.TenantID+" not found")
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return gateway.Wrap(gateway.KindConflict, err, "a collector user with e-mail "+u.Email+" already exists")
	}
	return dbError(err, "collector user")
}

// CollectorUserByEmail finds an enabled user. Errors: KindNotFound.
func (db *DB) CollectorUserByEmail(ctx context.Context, email string) (gateway.CollectorUser, error) {
	var u gateway.CollectorUser
	err := db.pool.QueryRow(ctx, `
		SELECT id, tenant_id, email, password_hash, created_at FROM collector_users
		WHERE email = $1 AND disabled_at IS NULL`, email).Scan(&u.ID, &u.TenantID, &u.Email, &u.PasswordHash, &u.CreatedAt)
	return u, dbError(err, "collector user")
}

// CreateCollectorSession stores a session and drops the one it replaces and the
// user's ended ones.
func (db *DB) CreateCollectorSession(ctx context.Context, idHash []byte, s gateway.CollectorSession, replaces []byte, idleSince, createdSince time.Time) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if replaces != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM collector_sessions WHERE id_hash = $1`, replaces); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `
			DELETE FROM collector_sessions WHERE user_id = $1 AND (last_seen_at <= $2 OR created_at <= $3)`,
			s.UserID, idleSince, createdSince); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO collector_sessions (id_hash, user_id, tenant_id, csrf_token, created_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, idHash, s.UserID, s.TenantID, s.CSRF, s.CreatedAt)
		return err
	})
	return dbError(err, "collector session")
}

// TouchCollectorSession returns a live session and records its use; expired sessions
// are deleted on the way.
func (db *DB) TouchCollectorSession(ctx context.Context, idHash []byte, now, idleSince, createdSince time.Time) (gateway.CollectorSession, error) {
	var s gateway.CollectorSession
	err := db.pool.QueryRow(ctx, `
		UPDATE collector_sessions cs SET last_seen_at = $2
		FROM collector_users u
		WHERE cs.id_hash = $1 AND u.id = cs.user_id AND u.disabled_at IS NULL
		  AND cs.last_seen_at > $3 AND cs.created_at > $4
		RETURNING cs.user_id, cs.tenant_id, u.email, cs.csrf_token, cs.created_at, cs.last_seen_at`,
		idHash, now, idleSince, createdSince).Scan(&s.UserID, &s.TenantID, &s.Email, &s.CSRF, &s.CreatedAt, &s.LastSeenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		// Expired or unknown: make sure an expired one cannot come back.
		if _, derr := db.pool.Exec(ctx, `DELETE FROM collector_sessions WHERE id_hash = $1`, idHash); derr != nil {
			return s, dbError(derr, "collector session")
		}
	}
	return s, dbError(err, "collector session")
}

// DeleteCollectorSession removes a session.
func (db *DB) DeleteCollectorSession(ctx context.Context, idHash []byte) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM collector_sessions WHERE id_hash = $1`, idHash)
	return dbError(err, "collector session")
}

// summaryColumns are the columns of an InvoiceSummary; $2 is today's date.
const summaryColumns = `i.id, i.number, i.customer_id, coalesce(i.document #>> '{customer,name}', ''),
	coalesce(i.document #>> '{customer,contact,email}', ''), i.currency, i.due_date, i.amount_due::text, i.status,
	greatest($2::date - i.due_date, 0)`

func scanSummaries(rows pgx.Rows) ([]gateway.InvoiceSummary, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.InvoiceSummary, error) {
		var s gateway.InvoiceSummary
		err := row.Scan(&s.ID, &s.Number, &s.CustomerID, &s.CustomerName, &s.ContactEmail, &s.Currency, &s.DueDate,
			&s.AmountDue, &s.Status, &s.DaysOverdue)
		return s, err
	})
}

// likePrefix escapes LIKE's wildcards so that a search for "50%" matches literally.
func likePrefix(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(strings.ToLower(q)) + "%"
}

// SearchInvoices matches an exact contact e-mail (on the invoice or any delivery)
// or a prefix of the number, customer id or customer name, case-insensitively.
func (db *DB) SearchInvoices(ctx context.Context, tenantID, q string, today time.Time, limit int) ([]gateway.InvoiceSummary, error) {
	// One indexed look-up per way of matching, united: an OR across them would
	// scan the tenant's whole ledger.
	rows, err := db.pool.Query(ctx, `
		SELECT `+summaryColumns+` FROM invoices i
		WHERE i.tenant_id = $1 AND i.id IN (
			SELECT id FROM invoices WHERE tenant_id = $1 AND lower(number) LIKE $3
			UNION SELECT id FROM invoices WHERE tenant_id = $1 AND lower(customer_id) LIKE $3
			UNION SELECT id FROM invoices WHERE tenant_id = $1 AND lower(document #>> '{customer,name}') LIKE $3
			UNION SELECT id FROM invoices WHERE tenant_id = $1 AND lower(document #>> '{customer,contact,email}') = $4
			UNION SELECT invoice_id FROM deliveries WHERE tenant_id = $1 AND lower(recipient_email) = $4
		)
		ORDER BY i.due_date DESC, i.id DESC
		LIMIT $5`, tenantID, today, likePrefix(q), strings.ToLower(q), limit)
	if err != nil {
		return nil, dbError(err, "invoice search")
	}
	out, err := scanSummaries(rows)
	return out, dbError(err, "invoice search")
}

// Worklist: past due, money owed, not void, and no opened, clicked, viewed,
// downloaded or acknowledged event except those classified as a machine. An event
// without a classification counts as a person: acknowledgements carry none, and a
// hit that tracking could not classify is still a sign of life. Ordered by days
// overdue times amount due: the oldest, biggest debts first.
func (db *DB) Worklist(ctx context.Context, tenantID string, today time.Time, limit int) ([]gateway.InvoiceSummary, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+summaryColumns+` FROM invoices i
		WHERE i.tenant_id = $1 AND i.due_date < $2::date AND i.amount_due > 0
		  AND i.status NOT IN ('void', 'voided', 'cancelled', 'paid')
		  AND NOT EXISTS (
			SELECT 1 FROM events e
			WHERE e.invoice_id = i.id
			  AND e.type IN ('opened', 'clicked', 'viewed', 'downloaded', 'acknowledged')
			  AND coalesce(e.detail ->> 'classification', 'human') <> 'machine')
		ORDER BY ($2::date - i.due_date) * i.amount_due DESC, i.id
		LIMIT $3`, tenantID, today, limit)
	if err != nil {
		return nil, dbError(err, "worklist")
	}
	out, err := scanSummaries(rows)
	return out, dbError(err, "worklist")
}
