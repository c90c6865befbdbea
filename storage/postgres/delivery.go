package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

var (
	_ gateway.DeliveryStore = (*DB)(nil)
	_ gateway.SettingsStore = (*DB)(nil)
)

// Delivery returns one delivery, its invoice and its tenant's delivery settings, for
// the worker, in one query. Errors: KindNotFound.
func (db *DB) Delivery(ctx context.Context, deliveryID string) (*gateway.Record, *gateway.Delivery, gateway.DeliverySettings, error) {
	var (
		dr       deliveryRow
		ir       invoiceRow
		settings []byte
	)
	err := db.pool.QueryRow(ctx, `
		SELECT `+deliveryColumns+`, `+invoiceColumns+`, s.settings
		FROM deliveries d
		JOIN invoices i ON i.id = d.invoice_id
		LEFT JOIN tenant_delivery_settings s ON s.tenant_id = d.tenant_id
		WHERE d.id = $1`, deliveryID).Scan(append(append(dr.dest(), ir.dest()...), &settings)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, gateway.DeliverySettings{}, gateway.Errorf(gateway.KindNotFound, "delivery %s not found", deliveryID)
	}
	if err != nil {
		return nil, nil, gateway.DeliverySettings{}, dbError(err, "delivery")
	}
	r, err := ir.record()
	if err != nil {
		return nil, nil, gateway.DeliverySettings{}, err
	}
	d := dr.delivery()
	s, err := decodeDeliverySettings(r.TenantID, settings)
	return r, &d, s, err
}

// invoiceFollows completes a statement that starts with a data-modifying CTE named d
// returning a delivery's invoice_id, is_primary and new status: the invoice's status
// follows its primary delivery in the same statement, and the statement returns how
// many deliveries moved (0 or 1).
const invoiceFollows = `,
	i AS (
		UPDATE invoices SET status = d.status, updated_at = now()
		FROM d WHERE invoices.id = d.invoice_id AND d.is_primary)
	SELECT count(*) FROM d`

// moveDelivery runs one invoiceFollows statement, which commits on its own or in
// the caller's transaction; a delivery that did not move is KindConflict.
func moveDelivery(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, conflict string, args ...any) error {
	var moved int
	if err := q.QueryRow(ctx, sql, args...).Scan(&moved); err != nil {
		return err
	}
	if moved == 0 {
		return gateway.Errorf(gateway.KindConflict, "%s", conflict)
	}
	return nil
}

// StartRendering moves a delivery that has no archived message yet from queued or
// deferred to rendering. Errors: KindConflict when it is in another state.
func (db *DB) StartRendering(ctx context.Context, d *gateway.Delivery) error {
	err := moveDelivery(ctx, db.pool, `
		WITH d AS (
			UPDATE deliveries SET status = 'rendering', updated_at = now()
			WHERE id = $1 AND status IN ('queued', 'deferred') AND message_key IS NULL
			RETURNING invoice_id, is_primary, status)`+invoiceFollows,
		fmt.Sprintf("delivery %s is not waiting to be rendered", d.ID), d.ID)
	return dbError(err, "delivery")
}

// SetMessageAndBeginSend records the archived message, the tracking tokens it carries
// and its archived event, and begins the first send: the delivery moves to sending
// and the attempt is counted, all in one transaction that commits before any byte
// goes to SMTP. A PDF rendered by this attempt is recorded first in the same
// transaction (see recordPDF). Errors: KindConflict when a message is archived already
// or the delivery moved on, or wrapping a *gateway.PDFTakenError.
func (db *DB) SetMessageAndBeginSend(ctx context.Context, d *gateway.Delivery, pdf *gateway.NewPDF, obj gateway.Object, tokens []gateway.Token, e gateway.Event) error {
	cols := make([][]string, 4)
	hashes := make([][]byte, len(tokens))
	for i, t := range tokens {
		hashes[i] = t.Hash
		for c, v := range []string{string(t.Kind), t.DeliveryID, t.InvoiceID, t.TenantID} {
			cols[c] = append(cols[c], v)
		}
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if pdf != nil {
			if err := recordPDF(ctx, tx, d.TenantID, d.InvoiceID, pdf); err != nil {
				return err
			}
		}
		// The tokens are stored only when the delivery moved: a conflict leaves the
		// first archived message's tokens alone.
		if err := moveDelivery(ctx, tx, `
			WITH d AS (
				UPDATE deliveries SET status = 'sending', attempts = attempts + 1,
					message_key = $2, message_sha256 = $3, message_size = $4, updated_at = now()
				WHERE id = $1 AND message_key IS NULL AND status IN ('queued', 'rendering', 'deferred')
				RETURNING invoice_id, is_primary, status),
			t AS (
				INSERT INTO tracking_tokens (hash, kind, delivery_id, invoice_id, tenant_id)
				SELECT * FROM unnest($5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[])
				WHERE EXISTS (SELECT FROM d))`+invoiceFollows,
			fmt.Sprintf("delivery %s has its message archived already", d.ID),
			d.ID, obj.Key, obj.SHA256, obj.Size, hashes, cols[0], cols[1], cols[2], cols[3]); err != nil {
			return err
		}
		return insertEvent(ctx, tx, d.TenantID, e)
	})
	return dbError(err, "delivery")
}

// recordPDF records an invoice's archived PDF with its events. The first PDF recorded
// wins: the same object again records nothing more, another one is a
// KindConflict wrapping *gateway.PDFTakenError, so that the caller rolls back and
// composes its message around the recorded PDF.
func recordPDF(ctx context.Context, tx pgx.Tx, tenantID, invoiceID string, pdf *gateway.NewPDF) error {
	var got gateway.Object
	err := tx.QueryRow(ctx, `
		UPDATE invoices SET pdf_key = $2, pdf_sha256 = $3, pdf_size = $4, updated_at = now()
		WHERE id = $1 AND pdf_key IS NULL
		RETURNING pdf_key, pdf_sha256, pdf_size`, invoiceID, pdf.Object.Key, pdf.Object.SHA256, pdf.Object.Size).
		Scan(&got.Key, &got.SHA256, &got.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := tx.QueryRow(ctx, `SELECT pdf_key, pdf_sha256, pdf_size FROM invoices WHERE id = $1`, invoiceID).
			Scan(&got.Key, &got.SHA256, &got.Size); err != nil {
			return fmt.Errorf("load recorded pdf: %w", err)
		}
		if got != pdf.Object {
			return &gateway.Error{Kind: gateway.KindConflict, Message: "another attempt recorded the invoice's PDF first",
				Err: &gateway.PDFTakenError{Recorded: got}}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record pdf: %w", err)
	}
	for _, e := range pdf.Events {
		if err := insertEvent(ctx, tx, tenantID, e); err != nil {
			return err
		}
	}
	return nil
}

// BeginSend moves a delivery with an archived message from archived or deferred to
// sending and counts the attempt. It must commit before any byte goes to SMTP: a
// delivery found in sending later means an attempt died mid-flight. Errors:
// KindConflict when the delivery is in another state.
func (db *DB) BeginSend(ctx context.Context, d *gateway.Delivery) error {
	err := moveDelivery(ctx, db.pool, `
		WITH d AS (
			UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = now()
			WHERE id = $1 AND status IN ('archived', 'deferred') AND message_key IS NOT NULL
			RETURNING invoice_id, is_primary, status)`+invoiceFollows,
		fmt.Sprintf("delivery %s is not waiting to be sent", d.ID), d.ID)
	return dbError(err, "delivery")
}

// FinishSend records the outcome of an attempt: the delivery's (and, for the primary
// delivery, its invoice's) new status, the server's reply and the events that prove it.
func (db *DB) FinishSend(ctx context.Context, d *gateway.Delivery, status gateway.Status, reply string, events ...gateway.Event) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var sentAt *time.Time
		if (status == gateway.StatusSent || status == gateway.StatusDelivered) && len(events) > 0 {
			sentAt = &events[0].At
		}
		if err := moveDelivery(ctx, tx, `
			WITH d AS (
				UPDATE deliveries SET status = $2, last_reply = coalesce(NULLIF($3, ''), last_reply), sent_at = coalesce($4, sent_at), updated_at = now()
				WHERE id = $1
				RETURNING invoice_id, is_primary, status)`+invoiceFollows,
			fmt.Sprintf("delivery %s not found", d.ID), d.ID, status, reply, sentAt); err != nil {
			return err
		}
		for _, e := range events {
			if err := insertEvent(ctx, tx, d.TenantID, e); err != nil {
				return err
			}
		}
		return nil
	})
	return dbError(err, "delivery")
}

// TenantDelivery returns one of the tenant's deliveries. Errors: KindNotFound.
func (db *DB) TenantDelivery(ctx context.Context, tenantID, deliveryID string) (*gateway.Delivery, error) {
	ds, err := db.deliveries(ctx, `WHERE id = $1 AND tenant_id = $2`, deliveryID, tenantID)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, gateway.Errorf(gateway.KindNotFound, "delivery %s not found", deliveryID)
	}
	return &ds[0], nil
}

// Resend queues another attempt of a delivery that ended unknown_outcome, failed or
// bounced, with the operator's event. It sends the archived message again when there
// is one. Errors: KindNotFound, KindConflict when the delivery is in another state.
func (db *DB) Resend(ctx context.Context, tenantID, deliveryID string, e gateway.Event) (*gateway.Delivery, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var status gateway.Status
		var hasMessage bool
		err := tx.QueryRow(ctx, `SELECT status, message_key IS NOT NULL FROM deliveries WHERE id = $1 AND tenant_id = $2 FOR UPDATE`,
			deliveryID, tenantID).Scan(&status, &hasMessage)
		if errors.Is(err, pgx.ErrNoRows) {
			return gateway.Errorf(gateway.KindNotFound, "delivery %s not found", deliveryID)
		}
		if err != nil {
			return err
		}
		switch status {
		case gateway.StatusUnknownOutcome, gateway.StatusFailed, gateway.StatusBounced:
		default:
			return &gateway.Error{Kind: gateway.KindConflict,
				Message: fmt.Sprintf("delivery %s is %s; only unknown_outcome, failed or bounced deliveries can be resent", deliveryID, status)}
		}
		next := gateway.StatusQueued
		if hasMessage {
			next = gateway.StatusArchived
		}
		if err := moveDelivery(ctx, tx, `
			WITH d AS (
				UPDATE deliveries SET status = $2, updated_at = now() WHERE id = $1
				RETURNING invoice_id, is_primary, status)`+invoiceFollows,
			fmt.Sprintf("delivery %s not found", deliveryID), deliveryID, next); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, tenantID, e); err != nil {
			return err
		}
		_, err = db.queue.InsertTx(ctx, tx, gateway.DeliverJob{DeliveryID: deliveryID}, &river.InsertOpts{MaxAttempts: db.deliverAttempts})
		return err
	})
	if err != nil {
		return nil, dbError(err, "delivery")
	}
	return db.TenantDelivery(ctx, tenantID, deliveryID)
}

// AddDelivery stores another delivery of an accepted invoice (to another contact, or
// a Cc copy), its event and its job. Errors: KindNotFound for an unknown invoice.
func (db *DB) AddDelivery(ctx context.Context, d gateway.Delivery, e gateway.Event) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO deliveries (id, invoice_id, tenant_id, recipient_name, recipient_email, status, message_id, bounce_token, is_primary, updated_at)
			SELECT $1, id, tenant_id, $4, $5, $6, $7, $8, false, $9 FROM invoices WHERE id = $2 AND tenant_id = $3`,
			d.ID, d.InvoiceID, d.TenantID, d.Recipient.Name, d.Recipient.Email, d.Status, d.MessageID, nullIfEmpty(d.BounceToken), d.UpdatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return gateway.Errorf(gateway.KindNotFound, "invoice %s not found", d.InvoiceID)
		}
		if err := insertEvent(ctx, tx, d.TenantID, e); err != nil {
			return err
		}
		_, err = db.queue.InsertTx(ctx, tx, gateway.DeliverJob{DeliveryID: d.ID}, &river.InsertOpts{MaxAttempts: db.deliverAttempts})
		return err
	})
	return dbError(err, "delivery")
}

// DeliverySettings returns the tenant's delivery settings; the zero value when none
// were saved.
func (db *DB) DeliverySettings(ctx context.Context, tenantID string) (gateway.DeliverySettings, error) {
	var raw []byte
	err := db.pool.QueryRow(ctx, `SELECT settings FROM tenant_delivery_settings WHERE tenant_id = $1`, tenantID).Scan(&raw)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return gateway.DeliverySettings{}, dbError(err, "delivery settings")
	}
	return decodeDeliverySettings(tenantID, raw)
}

// decodeDeliverySettings decodes stored settings; nil (none saved) is the zero value.
func decodeDeliverySettings(tenantID string, raw []byte) (gateway.DeliverySettings, error) {
	var s gateway.DeliverySettings
	if raw == nil {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("decode delivery settings of %s: %w", tenantID, err)
	}
	return s, nil
}

// SetDeliverySettings replaces the tenant's delivery settings.
func (db *DB) SetDeliverySettings(ctx context.Context, tenantID string, s gateway.DeliverySettings) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode delivery settings: %w", err)
	}
	_, err = db.pool.Exec(ctx, `
		INSERT INTO tenant_delivery_settings (tenant_id, settings, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (tenant_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()`, tenantID, raw)
	return dbError(err, "delivery settings")
}

var _ gateway.DeliveriesStore = (*DB)(nil)
