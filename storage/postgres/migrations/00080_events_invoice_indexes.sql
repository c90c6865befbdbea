-- +goose Up
-- events_invoice_seq (invoice_id, seq) leads with invoice_id, so it finds an
-- invoice's events (a few dozen at most) for every query that reads them by invoice:
-- the timeline (ORDER BY id), the proof (ORDER BY seq) and the collector's worklist
-- (invoice_id and type). Two more indexes on the same leading column cost every
-- event two index entries more and no query needs them.
DROP INDEX events_invoice;
DROP INDEX events_invoice_type;
