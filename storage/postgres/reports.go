package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
)

var _ gateway.ReportStore = (*DB)(nil)

// DeliveryByBounceToken implements gateway.ReportStore.
func (db *DB) DeliveryByBounceToken(ctx context.Context, token string) (*gateway.Delivery, error) {
	ds, err := db.deliveries(ctx, `WHERE bounce_token = $1`, token)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, gateway.Errorf(gateway.KindNotFound, "no delivery has this bounce token")
	}
	return &ds[0], nil
}

// DeliveryByMessageID implements gateway.ReportStore.
func (db *DB) DeliveryByMessageID(ctx context.Context, messageID string) (*gateway.Delivery, error) {
	// Providers echo our Message-ID; where one carries metadata instead, it is the
	// delivery id the gateway put there.
	ds, err := db.deliveries(ctx, `WHERE message_id = $1 OR id = $1`, messageID)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, gateway.Errorf(gateway.KindNotFound, "no delivery has this Message-ID")
	}
	return &ds[0], nil
}

// SaveReport implements gateway.ReportStore. The status moves are conditional
// updates, so two reports for one delivery racing each other still end in the state
// the transition rules give, whatever their order.
func (db *DB) SaveReport(ctx context.Context, rep *gateway.InboundReport, ev *gateway.Event, to gateway.Status, from []gateway.Status) (bool, error) {
	summary, err := json.Marshal(rep.Summary)
	if err != nil {
		return false, fmt.Errorf("encode report summary: %w", err)
	}
	var rawKey, rawSHA *string
	var rawSize *int64
	if rep.Raw != nil {
		rawKey, rawSHA, rawSize = &rep.Raw.Key, &rep.Raw.SHA256, &rep.Raw.Size
	}
	dup := false
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO inbound_reports (id, source, dedup_key, outcome, kind, token, message_id, tenant_id, invoice_id,
				delivery_id, mail_from, rcpt_to, remote_addr, raw_key, raw_sha256, raw_size, summary, received_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), NULLIF($10, ''),
				NULLIF($11, ''), NULLIF($12, ''), NULLIF($13, ''), $14, $15, $16, $17, $18)
			ON CONFLICT (dedup_key) DO NOTHING`,
			rep.ID, rep.Source, rep.DedupKey, rep.Outcome, rep.Kind, rep.Token, rep.MessageID, rep.TenantID, rep.InvoiceID,
			rep.DeliveryID, rep.MailFrom, rep.RcptTo, rep.RemoteAddr, rawKey, rawSHA, rawSize, summary, rep.ReceivedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			dup = true
			return nil
		}
		if ev == nil {
			return nil
		}
		if err := insertEvent(ctx, tx, rep.TenantID, *ev); err != nil {
			return err
		}
		if to == "" {
			return nil
		}
		fromText := make([]string, len(from))
		for i, s := range from {
			fromText[i] = string(s)
		}
		tag, err = tx.Exec(ctx, `UPDATE deliveries SET status = $2, updated_at = now() WHERE id = $1 AND status = ANY($3)`,
			rep.DeliveryID, to, fromText)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		// The invoice's status is its primary recipient's (the customer's contact): a
		// Cc bouncing says nothing about whether the invoice reached its addressee.
		_, err = tx.Exec(ctx, `
			UPDATE invoices i SET status = $2, updated_at = now()
			FROM deliveries d
			WHERE d.id = $1 AND d.is_primary AND i.id = d.invoice_id AND i.status = ANY($3)`,
			rep.DeliveryID, to, fromText)
		return err
	})
	return dup, dbError(err, "delivery report")
}

// ReportFilter selects reports for an operator.
type ReportFilter struct {
	All   bool // include reports that were recorded on a delivery
	Limit int
}

// Reports lists kept reports, newest first: by default only those that need an
// operator (unknown token, unreadable).
func (db *DB) Reports(ctx context.Context, f ReportFilter) ([]gateway.InboundReport, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := db.pool.Query(ctx, `
		SELECT id, source, dedup_key, outcome, kind, coalesce(token, ''), coalesce(message_id, ''), coalesce(tenant_id, ''),
			coalesce(invoice_id, ''), coalesce(delivery_id, ''), coalesce(mail_from, ''), coalesce(rcpt_to, ''),
			coalesce(remote_addr, ''), raw_key, raw_sha256, raw_size, summary, received_at
		FROM inbound_reports WHERE $1 OR outcome <> 'recorded'
		ORDER BY received_at DESC, id DESC LIMIT $2`, f.All, f.Limit)
	if err != nil {
		return nil, dbError(err, "reports")
	}
	reps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.InboundReport, error) {
		var (
			r              gateway.InboundReport
			rawKey, rawSHA *string
			rawSize        *int64
			summary        []byte
			receivedAt     time.Time
		)
		if err := row.Scan(&r.ID, &r.Source, &r.DedupKey, &r.Outcome, &r.Kind, &r.Token, &r.MessageID, &r.TenantID,
			&r.InvoiceID, &r.DeliveryID, &r.MailFrom, &r.RcptTo, &r.RemoteAddr, &rawKey, &rawSHA, &rawSize, &summary, &receivedAt); err != nil {
			return r, err
		}
		r.ReceivedAt = receivedAt.UTC()
		if rawKey != nil {
			r.Raw = &gateway.Object{Key: *rawKey, SHA256: *rawSHA, Size: *rawSize}
		}
		if len(summary) > 0 && string(summary) != "null" {
			if err := json.Unmarshal(summary, &r.Summary); err != nil {
				return r, fmt.Errorf("decode report summary %s: %w", r.ID, err)
			}
		}
		return r, nil
	})
	return reps, dbError(err, "reports")
}
