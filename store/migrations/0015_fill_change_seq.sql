-- The order in which fills were stored or changed, so a reader that keeps the trades up to date
-- (exporter-trading's Ledger, in the api and the aggregator's alert engine) reads only the fills
-- stored or corrected since it last looked, not the whole table. A writer numbers its fills under
-- a transaction-scoped advisory lock (store/src/write.rs), so numbers become visible in order and
-- a reader never passes a number whose row is still to be committed.
CREATE SEQUENCE fill_change_seq AS bigint;
ALTER TABLE fill ADD COLUMN change_seq bigint NOT NULL DEFAULT nextval('fill_change_seq');
ALTER SEQUENCE fill_change_seq OWNED BY fill.change_seq;
CREATE INDEX fill_change ON fill (change_seq);
