package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
)

var (
	_ gateway.TrackingSettingsStore = (*DB)(nil)
	_ gateway.LinkStore             = (*DB)(nil)
	_ gateway.EventRecorder         = (*DB)(nil)
	_ gateway.EngagementStore       = (*DB)(nil)
)

// TrackingSettings returns the tenant's tracking policy, or the defaults (privacy
// mode off) when it has never set one.
func (db *DB) TrackingSettings(ctx context.Context, tenantID string) (gateway.TrackingSettings, error) {
	s := gateway.DefaultTrackingSettings()
	var updated time.Time
	err := db.pool.QueryRow(ctx, `
		SELECT privacy_mode, raw_retention_days, link_expiry_days_after_due, updated_at
		FROM tenant_tracking_settings WHERE tenant_id = $1`, tenantID).
		Scan(&s.PrivacyMode, &s.RawRetentionDays, &s.LinkExpiryDaysAfterDue, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return gateway.TrackingSettings{}, dbError(err, "tracking settings")
	}
	updated = updated.UTC()
	s.UpdatedAt = &updated
	return s, nil
}

// SetTrackingSettings stores the tenant's tracking policy (already validated).
func (db *DB) SetTrackingSettings(ctx context.Context, tenantID string, s gateway.TrackingSettings) (gateway.TrackingSettings, error) {
	var updated time.Time
	err := db.pool.QueryRow(ctx, `
		INSERT INTO tenant_tracking_settings (tenant_id, privacy_mode, raw_retention_days, link_expiry_days_after_due, updated_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (tenant_id) DO UPDATE SET privacy_mode = EXCLUDED.privacy_mode,
			raw_retention_days = EXCLUDED.raw_retention_days,
			link_expiry_days_after_due = EXCLUDED.link_expiry_days_after_due, updated_at = now()
		RETURNING updated_at`, tenantID, s.PrivacyMode, s.RawRetentionDays, s.LinkExpiryDaysAfterDue).Scan(&updated)
	if err != nil {
		return gateway.TrackingSettings{}, dbError(err, "tracking settings")
	}
	updated = updated.UTC()
	s.UpdatedAt = &updated
	return s, nil
}

// LinksRevoked reports whether a delivery's hosted links were revoked.
func (db *DB) LinksRevoked(ctx context.Context, deliveryID string) (bool, error) {
	var revoked bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tracking_link_revocations WHERE delivery_id = $1)`,
		deliveryID).Scan(&revoked)
	return revoked, dbError(err, "link revocation")
}

// RevokeLinks revokes a delivery's hosted links; revoking twice keeps the first time.
func (db *DB) RevokeLinks(ctx context.Context, tenantID, deliveryID string) (time.Time, error) {
	var at time.Time
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = $1 AND tenant_id = $2)`,
			deliveryID, tenantID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return gateway.Errorf(gateway.KindNotFound, "delivery %s not found", deliveryID)
		}
		return tx.QueryRow(ctx, `
			INSERT INTO tracking_link_revocations (delivery_id, tenant_id) VALUES ($1, $2)
			ON CONFLICT (delivery_id) DO UPDATE SET delivery_id = EXCLUDED.delivery_id
			RETURNING revoked_at`, deliveryID, tenantID).Scan(&at)
	})
	return at.UTC(), dbError(err, "delivery")
}

// DeliverySentAt returns when the relay accepted the delivery, nil before that.
func (db *DB) DeliverySentAt(ctx context.Context, deliveryID string) (*time.Time, error) {
	var at *time.Time
	err := db.pool.QueryRow(ctx, `SELECT sent_at FROM deliveries WHERE id = $1`, deliveryID).Scan(&at)
	return at, dbError(err, "delivery")
}

// RecentHitKinds returns the distinct token kinds hit on a delivery since a moment.
func (db *DB) RecentHitKinds(ctx context.Context, deliveryID string, since time.Time) ([]gateway.TokenKind, error) {
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT token_kind FROM tracking_hits WHERE delivery_id = $1 AND at >= $2`,
		deliveryID, since)
	if err != nil {
		return nil, dbError(err, "tracking hits")
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[gateway.TokenKind])
	return kinds, dbError(err, "tracking hits")
}

// PurgeTrackingHits deletes raw hits older than each tenant's retention (the default
// for tenants without settings) and returns how many went. Evidence events stay.
func (db *DB) PurgeTrackingHits(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `
		DELETE FROM tracking_hits h
		-- No retention is shorter than a day: the first bound lets the BRIN index on
		-- at skip the recent block ranges.
		WHERE h.at < $1::timestamptz - interval '1 day'
		AND h.at < $1::timestamptz - make_interval(days => coalesce(
			(SELECT s.raw_retention_days FROM tenant_tracking_settings s WHERE s.tenant_id = h.tenant_id), $2))`,
		now, gateway.DefaultRawRetentionDays)
	if err != nil {
		return 0, dbError(err, "tracking hits")
	}
	return tag.RowsAffected(), nil
}

// TrackingHits returns the raw hits of one of the tenant's invoices, oldest first.
func (db *DB) TrackingHits(ctx context.Context, tenantID, invoiceID string) ([]gateway.RawHit, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, delivery_id, token_kind, event_type, at, method, coalesce(user_agent, ''), coalesce(ip_prefix, ''),
			classification, reason
		FROM tracking_hits
		WHERE delivery_id IN (SELECT id FROM deliveries WHERE invoice_id = $2 AND tenant_id = $1)
		AND tenant_id = $1 AND invoice_id = $2
		ORDER BY id`, tenantID, invoiceID)
	if err != nil {
		return nil, dbError(err, "tracking hits")
	}
	hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gateway.RawHit, error) {
		var h gateway.RawHit
		err := row.Scan(&h.ID, &h.DeliveryID, &h.TokenKind, &h.Event, &h.At, &h.Method, &h.UserAgent, &h.IPPrefix,
			&h.Classification, &h.Reason)
		h.At = h.At.UTC()
		return h, err
	})
	return hits, dbError(err, "tracking hits")
}
