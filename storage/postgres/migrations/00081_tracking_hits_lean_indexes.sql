-- +goose Up
-- tracking_hits takes every pixel hit, so each index on it is paid per hit. Two of
-- the three served nothing that needs a B-tree:
--  * the primary key on id: nothing looks a hit up by id. Ids still come from the
--    sequence (unique and in insert order, which is what ORDER BY id relies on).
--  * (tenant_id, at): the retention purge deletes by age across tenants, and the
--    per-invoice listing goes through the invoice's deliveries. A BRIN index on at
--    (hits arrive in time order) lets the purge skip the recent block ranges, for a
--    few pages instead of an entry per hit.
-- (delivery_id, at) stays: the all-links-at-once check, the proof and the listing.
ALTER TABLE tracking_hits DROP CONSTRAINT tracking_hits_pkey;
DROP INDEX tracking_hits_tenant_at;
CREATE INDEX tracking_hits_at_brin ON tracking_hits USING brin (at);
