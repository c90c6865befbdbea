-- +goose Up
-- Each delivery's envelope sender is bounce+<bounce_token>@<bounce domain> (VERP), so
-- delivery status notifications and read receipts map back to exactly one delivery.
ALTER TABLE deliveries ADD COLUMN bounce_token text UNIQUE;
