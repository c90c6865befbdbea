-- +goose Up
-- A customer's query about an invoice. Its opening and resolution are also events
-- in the invoice's chain (disputed, dispute_resolved); this table is the current state.
CREATE TABLE disputes (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    invoice_id  text NOT NULL REFERENCES invoices (id),
    delivery_id text REFERENCES deliveries (id),
    reason      text NOT NULL,
    note        text NOT NULL,
    source      text NOT NULL,
    opened_by   text NOT NULL DEFAULT '',
    status      text NOT NULL,
    attachments jsonb NOT NULL DEFAULT '[]',
    opened_at   timestamptz NOT NULL,
    resolved_at timestamptz,
    outcome     text,
    resolution  text,
    resolved_by text
);
CREATE INDEX disputes_invoice ON disputes (invoice_id, opened_at DESC);
CREATE INDEX disputes_open ON disputes (tenant_id, opened_at) WHERE status = 'open';
