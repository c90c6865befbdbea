-- +goose Up
-- Raw tracking hits: every pixel, link, page and download request, as received
-- (within the tenant's privacy mode), with its classification. Deleted after the
-- tenant's raw retention; the evidence events they produced stay with the invoice.
CREATE TABLE tracking_hits (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL,
    invoice_id     text NOT NULL,
    delivery_id    text NOT NULL,
    token_kind     text NOT NULL,      -- pixel, link, page, honeypot
    event_type     text NOT NULL,      -- opened, clicked, viewed, downloaded, ...
    at             timestamptz NOT NULL,
    method         text NOT NULL,
    user_agent     text,               -- NULL in anonymous mode
    ip_prefix      text,               -- truncated (/24, /48); NULL in anonymous mode
    classification text NOT NULL,      -- human or machine
    reason         text NOT NULL
);
-- No foreign keys on purpose: the pixel path appends with COPY and must not pay for
-- key checks; every row comes from a resolved token.
CREATE INDEX tracking_hits_delivery ON tracking_hits (delivery_id, at);
CREATE INDEX tracking_hits_tenant_at ON tracking_hits (tenant_id, at);

-- The first hit of each (delivery, event type, classification) becomes an evidence
-- event; later ones stay raw hits only. This table makes "first" atomic.
CREATE TABLE tracking_firsts (
    delivery_id    text NOT NULL,
    event_type     text NOT NULL,
    classification text NOT NULL,
    PRIMARY KEY (delivery_id, event_type, classification)
);

-- Per-tenant tracking policy. A tenant without a row has privacy mode 'off' and the
-- defaults below: tracking is something a tenant chooses.
CREATE TABLE tenant_tracking_settings (
    tenant_id                  text PRIMARY KEY REFERENCES tenants (id),
    privacy_mode               text NOT NULL DEFAULT 'off' CHECK (privacy_mode IN ('off', 'anonymous', 'full')),
    raw_retention_days         integer NOT NULL DEFAULT 396 CHECK (raw_retention_days BETWEEN 1 AND 3650),
    link_expiry_days_after_due integer NOT NULL DEFAULT 120 CHECK (link_expiry_days_after_due BETWEEN 0 AND 3650),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

-- Hosted links of a delivery revoked by the tenant.
CREATE TABLE tracking_link_revocations (
    delivery_id text PRIMARY KEY REFERENCES deliveries (id),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
