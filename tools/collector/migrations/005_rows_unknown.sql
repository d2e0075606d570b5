-- jobmeter collector storage, migration 5: statements whose row count went
-- by unseen.
-- The agent copies a bounded head and tail of each payload; a row count
-- that falls in the uncaptured middle (a MySQL result set of more than a
-- few rows in one read, completions inside a PostgreSQL pipeline) is not
-- known, and such a query adds nothing to `rows`.  DbStats.rows_unknown and
-- StatementStats.rows_unknown count those queries, so that `rows` is read
-- as exact only when they are 0.  Rows stored before this migration: 0 (an
-- agent older than the field sent none; its `rows` had the same gaps).
--
-- A NOT NULL column with a constant default only rewrites the schema, not
-- the rows: instant however large the tables are.  Safe to run again as
-- migration 3 explains (applied with its version record, in one
-- transaction).

ALTER TABLE db_stats ADD COLUMN rows_unknown INTEGER NOT NULL DEFAULT 0;
ALTER TABLE statements ADD COLUMN rows_unknown INTEGER NOT NULL DEFAULT 0;
ALTER TABLE statement_day ADD COLUMN rows_unknown INTEGER NOT NULL DEFAULT 0;
