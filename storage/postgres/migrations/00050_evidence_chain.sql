-- +goose Up
-- Every event is a link of its invoice's hash chain (see gateway/evidence): seq counts
-- from 1 per invoice, hash covers the event's canonical JSON and prev_hash.
ALTER TABLE events ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text;
CREATE UNIQUE INDEX events_invoice_seq ON events (invoice_id, seq);

-- The head of each invoice's chain. Appending an event locks this row, so concurrent
-- writers of one invoice take turns and never fork the chain. checkpointed_seq is
-- the head the latest signed checkpoint recorded.
CREATE TABLE event_chains (
    invoice_id       text PRIMARY KEY REFERENCES invoices (id),
    seq              bigint NOT NULL,
    head             text NOT NULL,
    checkpointed_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX event_chains_pending ON event_chains (invoice_id) WHERE seq > checkpointed_seq;

-- Signed checkpoints: each commits to the heads of the chains that grew since the
-- one before (a Merkle root) and to that checkpoint's hash.
CREATE TABLE checkpoints (
    number    bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    prev_hash text NOT NULL,
    root      text NOT NULL,
    size      integer NOT NULL,
    hash      text NOT NULL,
    signature jsonb NOT NULL
);

-- The leaves of each checkpoint, in tree order, for inclusion proofs.
CREATE TABLE checkpoint_heads (
    checkpoint bigint NOT NULL REFERENCES checkpoints (number),
    position   integer NOT NULL,
    invoice_id text NOT NULL,
    seq        bigint NOT NULL,
    hash       text NOT NULL,
    PRIMARY KEY (checkpoint, position)
);
CREATE INDEX checkpoint_heads_invoice ON checkpoint_heads (invoice_id, checkpoint DESC);
