package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

var _ gateway.WebhookStore = (*DB)(nil)

// enqueueWebhooks queues the stored event (e.ID set) for the endpoints that
// insertEvent found subscribed to its webhook type, in the caller's transaction: the
// event and its webhooks commit together or not at all.
func enqueueWebhooks(ctx context.Context, tx pgx.Tx, tenantID string, e gateway.Event, whType string, endpoints []string) error {
	if whType == "" || len(endpoints) == 0 {
		return nil
	}
	payload, err := gateway.WebhookPayload(whType, e)
	if err != nil {
		return fmt.Errorf("encode webhook: %w", err)
	}
	// insertEvent is a plain function over a transaction, so it has no queue client at
	// hand; an insert-only River client costs about 20 µs and is only built when some
	// endpoint wants the event.
	queue, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil {
		return fmt.Errorf("create job queue client: %w", err)
	}
	msgID := gateway.NewID("msg")
	for _, ep := range endpoints {
		id := gateway.NewID("whd")
		if _, err := tx.Exec(ctx, `
			INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, message_id, event_id, event_type, payload, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')`, id, ep, tenantID, msgID, e.ID, whType, payload); err != nil {
			return fmt.Errorf("store webhook delivery: %w", err)
		}
		if _, err := queue.InsertTx(ctx, tx, gateway.WebhookJob{DeliveryID: id},
			&river.InsertOpts{MaxAttempts: gateway.WebhookMaxAttempts, Queue: gateway.WebhookQueue}); err != nil {
			return fmt.Errorf("enqueue webhook: %w", err)
		}
	}
	return nil
}

// CreateWebhookEndpoint implements gateway.WebhookStore.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, ep *gateway.WebhookEndpoint) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, description, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, ep.ID, ep.TenantID, ep.URL, ep.Secret, ep.EventTypes, ep.Description, ep.CreatedAt)
	return dbError(err, "webhook endpoint")
}

const endpointColumns = `id, tenant_id, url, event_types, description, disabled_at IS NOT NULL, coalesce(disabled_reason, ''), created_at, updated_at`

func scanEndpoint(row pgx.Row) (gateway.WebhookEndpoint, error) {
	var ep gateway.WebhookEndpoint
	err := row.Scan(&ep.ID, &ep.TenantID, &ep.URL, &ep.EventTypes, &ep.Description, &ep.Disabled, &ep.DisabledReason,
		&ep.CreatedAt, &ep.UpdatedAt)
	ep.CreatedAt, ep.UpdatedAt = ep.CreatedAt.UTC(), ep.UpdatedAt.UTC()
	return ep, err
}

// WebhookEndpoints implements gateway.WebhookStore.
func (db *DB) WebhookEndpoints(ctx context.Context, tenantID string) ([]gateway.WebhookEndpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, dbError(err, "webhook endpoints")
	}
	eps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.WebhookEndpoint, error) { return scanEndpoint(row) })
	return eps, dbError(err, "webhook endpoints")
}

// UpdateWebhookEndpoint implements gateway.WebhookStore.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, ep *gateway.WebhookEndpoint) error {
	tag, err := db.pool.Exec(ctx, `
		UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5,
			disabled_at = CASE WHEN $6 THEN coalesce(disabled_at, now()) END,
			disabled_reason = CASE WHEN $6 THEN NULLIF($7, '') END, updated_at = $8
		WHERE id = $1 AND tenant_id = $2`,
		ep.ID, ep.TenantID, ep.URL, ep.Description, ep.EventTypes, ep.Disabled, ep.DisabledReason, ep.UpdatedAt)
	if err == nil && tag.RowsAffected() == 0 {
		return gateway.Errorf(gateway.KindNotFound, "webhook endpoint %q not found", ep.ID)
	}
	return dbError(err, "webhook endpoint")
}

// DeleteWebhookEndpoint implements gateway.WebhookStore.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, tenantID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2`, id, tenantID)
	if err == nil && tag.RowsAffected() == 0 {
		return gateway.Errorf(gateway.KindNotFound, "webhook endpoint %q not found", id)
	}
	return dbError(err, "webhook endpoint")
}

const webhookDeliveryColumns = `d.id, d.endpoint_id, d.message_id, d.event_id, d.event_type, d.status, d.attempts,
	coalesce(d.last_status_code, 0), coalesce(d.last_error, ''), coalesce(d.replay_of, ''), d.created_at, d.updated_at, d.payload`

func scanWebhookDelivery(row pgx.Row) (gateway.WebhookDelivery, error) {
	var d gateway.WebhookDelivery
	err := row.Scan(&d.ID, &d.EndpointID, &d.MessageID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &d.ReplayOf, &d.CreatedAt, &d.UpdatedAt, &d.Payload)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, err
}

// WebhookDeliveries implements gateway.WebhookStore.
func (db *DB) WebhookDeliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]gateway.WebhookDelivery, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2)`,
		endpointID, tenantID).Scan(&exists); err != nil {
		return nil, dbError(err, "webhook endpoint")
	}
	if !exists {
		return nil, gateway.Errorf(gateway.KindNotFound, "webhook endpoint %q not found", endpointID)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries d
		WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, dbError(err, "webhook deliveries")
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.WebhookDelivery, error) { return scanWebhookDelivery(row) })
	if err != nil {
		return nil, dbError(err, "webhook deliveries")
	}
	for i := range ds {
		ds[i].Log = []gateway.WebhookAttempt{}
		rows, err := db.pool.Query(ctx, `
			SELECT attempted_at, coalesce(status_code, 0), coalesce(error, ''), coalesce(response, ''), duration_ms
			FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id`, ds[i].ID)
		if err != nil {
			return nil, dbError(err, "webhook attempts")
		}
		log, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.WebhookAttempt, error) {
			var a gateway.WebhookAttempt
			err := row.Scan(&a.At, &a.StatusCode, &a.Error, &a.Response, &a.DurationMS)
			a.At = a.At.UTC()
			return a, err
		})
		if err != nil {
			return nil, dbError(err, "webhook attempts")
		}
		ds[i].Log = append(ds[i].Log, log...)
	}
	return ds, nil
}

// ReplayWebhookDelivery implements gateway.WebhookStore.
func (db *DB) ReplayWebhookDelivery(ctx context.Context, tenantID, deliveryID, newID string) (*gateway.WebhookDelivery, error) {
	var out gateway.WebhookDelivery
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var disabled bool
		err := tx.QueryRow(ctx, `
			SELECT e.disabled_at IS NOT NULL FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.id = $1 AND d.tenant_id = $2`, deliveryID, tenantID).Scan(&disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return gateway.Errorf(gateway.KindNotFound, "webhook delivery %q not found", deliveryID)
		}
		if err != nil {
			return err
		}
		if disabled {
			return gateway.Errorf(gateway.KindConflict, "the endpoint is disabled: re-enable it with PATCH {\"enabled\": true} first")
		}
		out, err = scanWebhookDelivery(tx.QueryRow(ctx, `
			INSERT INTO webhook_deliveries AS d (id, endpoint_id, tenant_id, message_id, event_id, event_type, payload, status, replay_of)
			SELECT $1, endpoint_id, tenant_id, message_id, event_id, event_type, payload, 'pending', id
			FROM webhook_deliveries WHERE id = $2
			RETURNING `+webhookDeliveryColumns, newID, deliveryID))
		if err != nil {
			return err
		}
		out.Log = []gateway.WebhookAttempt{}
		_, err = db.queue.InsertTx(ctx, tx, gateway.WebhookJob{DeliveryID: newID}, &river.InsertOpts{MaxAttempts: gateway.WebhookMaxAttempts, Queue: gateway.WebhookQueue})
		return err
	})
	if err != nil {
		return nil, dbError(err, "webhook delivery")
	}
	return &out, nil
}

// WebhookForAttempt implements gateway.WebhookStore.
func (db *DB) WebhookForAttempt(ctx context.Context, deliveryID string) (*gateway.WebhookDelivery, *gateway.WebhookEndpoint, error) {
	d, err := scanWebhookDelivery(db.pool.QueryRow(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries d WHERE d.id = $1`, deliveryID))
	if err != nil {
		return nil, nil, dbError(err, "webhook delivery")
	}
	var ep gateway.WebhookEndpoint
	err = db.pool.QueryRow(ctx, `SELECT url, secret, disabled_at IS NOT NULL, coalesce(disabled_reason, '') FROM webhook_endpoints WHERE id = $1`,
		d.EndpointID).Scan(&ep.URL, &ep.Secret, &ep.Disabled, &ep.DisabledReason)
	if err != nil {
		return nil, nil, dbError(err, "webhook endpoint")
	}
	ep.ID = d.EndpointID
	return &d, &ep, nil
}

// RecordWebhookAttempt implements gateway.WebhookStore.
func (db *DB) RecordWebhookAttempt(ctx context.Context, deliveryID string, a gateway.WebhookAttempt, status, disable string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var code *int
		if a.StatusCode != 0 {
			code = &a.StatusCode
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, error, response, duration_ms)
			VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6)`, deliveryID, a.At, code, a.Error, a.Response, a.DurationMS); err != nil {
			return err
		}
		var endpointID string
		if err := tx.QueryRow(ctx, `
			UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = NULLIF($4, ''),
				updated_at = $5
			WHERE id = $1 RETURNING endpoint_id`, deliveryID, status, code, a.Error, a.At).Scan(&endpointID); err != nil {
			return err
		}
		if disable == "" {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = coalesce(disabled_at, $2), disabled_reason = $3, updated_at = $2
			WHERE id = $1`, endpointID, a.At, disable)
		return err
	})
	return dbError(err, "webhook attempt")
}

// TenantEvents implements gateway.WebhookStore.
func (db *DB) TenantEvents(ctx context.Context, tenantID string, after int64, limit int) ([]gateway.Event, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, invoice_id, coalesce(delivery_id, ''), type, level, at, detail
		FROM events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, after, limit)
	if err != nil {
		return nil, dbError(err, "events")
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.Event, error) {
		var e gateway.Event
		var at time.Time
		err := row.Scan(&e.ID, &e.InvoiceID, &e.DeliveryID, &e.Type, &e.Level, &at, &e.Detail)
		e.At = at.UTC()
		return e, err
	})
	return evs, dbError(err, "events")
}
