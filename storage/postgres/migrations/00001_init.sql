-- +goose Up
CREATE TABLE tenants (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    default_terms text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of an API key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    key_hash   bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE invoices (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id),
    number         text NOT NULL,
    customer_id    text NOT NULL,
    currency       text NOT NULL,
    issue_date     date NOT NULL,
    due_date       date NOT NULL,
    document       jsonb NOT NULL,   -- the invoice as accepted (normalised JSON)
    totals         jsonb NOT NULL,   -- computed by the gateway
    total          numeric NOT NULL,
    amount_due     numeric NOT NULL,
    terms          text NOT NULL,    -- the exact terms text printed
    terms_sha256   text NOT NULL,
    payload_sha256 text NOT NULL,    -- of the request body as received
    status         text NOT NULL,
    pdf_key        text,
    pdf_sha256     text,
    pdf_size       bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_tenant_created ON invoices (tenant_id, created_at DESC, id DESC);

CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    invoice_id      text NOT NULL REFERENCES invoices (id),
    tenant_id       text NOT NULL REFERENCES tenants (id),
    recipient_name  text NOT NULL,
    recipient_email text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    message_id      text NOT NULL,
    last_reply      text,
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);

-- Tracking tokens are stored by hash only; a token maps to exactly one delivery.
CREATE TABLE tracking_tokens (
    hash        bytea PRIMARY KEY,
    kind        text NOT NULL,
    delivery_id text NOT NULL REFERENCES deliveries (id),
    invoice_id  text NOT NULL REFERENCES invoices (id),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Evidence events are append-only.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    invoice_id  text NOT NULL REFERENCES invoices (id),
    delivery_id text REFERENCES deliveries (id),
    type        text NOT NULL,
    level       integer NOT NULL,
    at          timestamptz NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_invoice ON events (invoice_id, id);
