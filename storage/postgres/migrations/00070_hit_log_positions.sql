-- +goose Up
-- How far each gateway's local hit log (storage/hitlog) has been copied into
-- tracking_hits. Moved in the same transaction as the COPY of the hits before it, so
-- a crash between the two neither stores a hit twice nor skips one.
CREATE TABLE hit_log_positions (
    log_id     text PRIMARY KEY,
    segment    bigint NOT NULL,
    "offset"   bigint NOT NULL,
    drained_at timestamptz NOT NULL DEFAULT now()
);
