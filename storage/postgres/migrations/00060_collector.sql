-- +goose Up
-- Collector workspace: users of a tenant's accounts-receivable team and their
-- browser sessions.
CREATE TABLE collector_users (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    email         text NOT NULL,          -- lower-case; sign-in is by e-mail
    password_hash text NOT NULL,          -- argon2id PHC string
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX collector_users_email ON collector_users (email);

-- Only the SHA-256 of a session id is stored: a leaked table yields no usable cookie.
CREATE TABLE collector_sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      text NOT NULL REFERENCES collector_users (id) ON DELETE CASCADE,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX collector_sessions_user ON collector_sessions (user_id);

-- Search by customer and contact, and the worklist of past-due invoices.
CREATE INDEX invoices_tenant_customer ON invoices (tenant_id, lower(customer_id) text_pattern_ops);
CREATE INDEX invoices_tenant_customer_name ON invoices (tenant_id, lower(document #>> '{customer,name}') text_pattern_ops);
CREATE INDEX invoices_tenant_contact_email ON invoices (tenant_id, lower(document #>> '{customer,contact,email}'));
CREATE INDEX invoices_tenant_number_lower ON invoices (tenant_id, lower(number) text_pattern_ops);
CREATE INDEX invoices_tenant_past_due ON invoices (tenant_id, due_date) WHERE amount_due > 0;
CREATE INDEX deliveries_tenant_email ON deliveries (tenant_id, lower(recipient_email));
CREATE INDEX events_invoice_type ON events (invoice_id, type);
