-- +goose Up
-- The archived MIME message of each delivery: the exact bytes every attempt sends.
ALTER TABLE deliveries
    ADD COLUMN message_key    text,
    ADD COLUMN message_sha256 text,
    ADD COLUMN message_size   bigint;

-- How each tenant's invoices are e-mailed (gateway.DeliverySettings as JSON). The
-- DKIM private key lives here too; the API never returns it.
CREATE TABLE tenant_delivery_settings (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id),
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The invoice's status is its primary delivery's (the customer contact); Cc copies
-- and redirects to other contacts have their own status only.
ALTER TABLE deliveries ADD COLUMN is_primary boolean NOT NULL DEFAULT true;
