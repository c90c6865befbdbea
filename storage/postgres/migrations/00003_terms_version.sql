-- +goose Up
-- Which terms were printed: their version id and where they came from (the invoice
-- itself, the customer's default or the tenant's default).
ALTER TABLE invoices ADD COLUMN terms_version text NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN terms_source text NOT NULL DEFAULT 'invoice';
