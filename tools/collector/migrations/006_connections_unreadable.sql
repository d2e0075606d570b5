-- jobmeter collector storage, migration 6: database connections whose
-- statements cannot be read.
-- A connection the server encrypts (TLS, as libpq's default sslmode=prefer
-- gets from a server with SSL on; GSS) or MySQL compresses carries queries
-- the agent cannot see: its bytes are counted, its queries are in no
-- figure.  DbStats.connections_unreadable counts such connections, so that
-- a job's missing queries have a visible reason.  job_day keeps the sum of
-- its runs'.  Rows stored before this migration: 0 (an agent older than
-- the field sent none).
--
-- NOT NULL columns with a constant default: a schema change only, instant
-- however large the tables are (migration 5 explains; applied with its
-- version record, in one transaction).

ALTER TABLE db_stats ADD COLUMN connections_unreadable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_day ADD COLUMN db_connections_unreadable INTEGER NOT NULL DEFAULT 0;
