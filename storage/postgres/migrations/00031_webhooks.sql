-- +goose Up
-- Webhook endpoints of the accounting systems. The secret is kept as issued: the
-- gateway must sign with it (HMAC), so a hash would not do.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    url             text NOT NULL,
    secret          text NOT NULL,
    event_types     text[] NOT NULL DEFAULT '{}',  -- empty: every type
    description     text NOT NULL DEFAULT '',
    disabled_at     timestamptz,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

-- One message to one endpoint. Rows are written in the transaction that records the
-- event, together with the River job that sends them, so no event is lost.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    message_id       text NOT NULL,   -- the webhook-id header: the same on retries and replays
    event_id         bigint NOT NULL REFERENCES events (id),
    event_type       text NOT NULL,   -- invoice.delivered, ...
    payload          bytea NOT NULL,  -- the exact body signed and sent
    status           text NOT NULL,   -- pending, succeeded, failed
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    replay_of        text REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);

-- The delivery log: every attempt with what the endpoint answered.
CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    response     text,
    duration_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- GET /v1/events pages through a tenant's events by id.
CREATE INDEX events_tenant_id ON events (tenant_id, id);
