-- +goose Up
-- Terms and conditions are versioned: each PUT of a tenant's (customer_id = '') or a
-- customer's default creates a new row; the newest row is the one in force. Invoices
-- name the version they printed in invoices.terms_version.
CREATE TABLE terms_versions (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    customer_id text NOT NULL DEFAULT '',
    text        text NOT NULL,
    sha256      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX terms_versions_current ON terms_versions (tenant_id, customer_id, id DESC);

-- Tenants created before versioning keep their default terms as a first version.
INSERT INTO terms_versions (id, tenant_id, customer_id, text, sha256, created_at)
SELECT 'trm_' || substr(md5(id || default_terms), 1, 26), id, '', default_terms,
       encode(sha256(convert_to(default_terms, 'UTF8')), 'hex'), created_at
FROM tenants WHERE coalesce(default_terms, '') <> '';

-- Idempotency-Key records (IETF draft, as Stripe does it): written in the same
-- transaction as the invoice they answer for, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id      text NOT NULL REFERENCES tenants (id),
    key            text NOT NULL,
    request_sha256 text NOT NULL,
    status         integer NOT NULL,
    response       bytea NOT NULL,
    invoice_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- API keys get a name and a short visible hint so that a list of them means something.
ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN hint text NOT NULL DEFAULT '';
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- Cursor pagination walks a tenant's invoices by id (time-ordered UUIDv7).
CREATE INDEX invoices_tenant_id ON invoices (tenant_id, id DESC);

-- Proof documents added after intake (POST /v1/invoices/{id}/attachments) and those
-- sent with the invoice; the bytes live in the archive under key.
CREATE TABLE invoice_attachments (
    invoice_id   text NOT NULL REFERENCES invoices (id),
    n            integer NOT NULL,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    filename     text NOT NULL,
    description  text NOT NULL DEFAULT '',
    content_type text NOT NULL,
    size         bigint NOT NULL,
    sha256       text NOT NULL,
    key          text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, n)
);
