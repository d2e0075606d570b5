-- jobmeter collector storage, migration 3: per-statement latency percentiles.
-- The agent sends StatementStats.latency_p50_s / latency_p95_s /
-- latency_p99_s (from each statement's own latency histogram); versions 1
-- and 2 had no columns for them, so they were dropped at ingest.
--
-- The columns are nullable with no default: NULL means "not known" -- every
-- row stored before this migration, and a statement whose three percentiles
-- arrive as 0 (proto3 cannot tell that from "not sent"; store.c).  Adding a
-- nullable column without a default only rewrites the schema, not the rows,
-- so this migration is instant however large the tables are, and there is
-- nothing to backfill.
--
-- Percentiles cannot be summed.  statement_day keeps the MAX of the per-run
-- p95 and p99 of that (day, job, fingerprint): for any mix of runs, the
-- combined distribution F = sum w_i F_i satisfies F(max q_i) >= p when every
-- F_i(q_i) >= p, so the highest per-run p-quantile is an upper bound of the
-- p-quantile of all the calls together (loose when one run is slow, which is
-- the run an operator wants to see).  NULL there = no run of that day sent
-- the figure.  p50 is kept in raw rows only.
--
-- SQLite has no ADD COLUMN IF NOT EXISTS: what makes this safe to run again
-- is the collector's migration step (store.c), which applies this file only
-- when schema_version < 3, in the same transaction that records version 3,
-- so an interrupted start-up leaves version 2 with none of these columns and
-- the next start-up applies the whole file again.

ALTER TABLE statements ADD COLUMN latency_p50_s REAL;
ALTER TABLE statements ADD COLUMN latency_p95_s REAL;
ALTER TABLE statements ADD COLUMN latency_p99_s REAL;

ALTER TABLE statement_day ADD COLUMN latency_p95_s_max REAL;
ALTER TABLE statement_day ADD COLUMN latency_p99_s_max REAL;
