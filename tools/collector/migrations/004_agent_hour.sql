-- jobmeter collector storage, migration 4: data completeness per (hour, agent).
-- The report's completeness section (batches stored, seqs never stored, loss
-- the agent reported) used to read every batch of the period with window
-- functions over (agent, boot, seq): 13 s for 30 days of 10 agents at 10-s
-- batches.  agent_hour keeps the same figures summed per UTC hour of
-- window_end_ns, current at every ingest (tools/collector/store.c), so a
-- report reads whole hours from here and only its partial edge hours from
-- the batches (tools/report/query.c).
--
-- What a batch contributes, with its own hour (window_end_ns / 3600e9):
--   batches        1.
--   host           the agent's host name (max over the hour).
--   seq_gaps       the seqs missing just below its own, per agent across
--                  boots (seqs continue over restarts and reboots): seq -
--                  (the agent's highest stored seq below it) - 1, 0 if none.
--                  A seq stored twice (a new spool reused it) counts once:
--                  only its first-stored batch (lowest id) carries a gap.
--   l0..l7         the increase of each cumulative loss counter since the
--                  previous batch (by seq) of the same agent and boot that
--                  has loss counters: value - previous, or the whole value
--                  when it went down (the agent restarted) or there is none.
--                  Columns in the order of the report's loss names:
--                  ringbuf_drops, map_full, payload_drops, parse_errors,
--                  statements_overflow, jobs_overflow, spool_dropped_batches,
--                  exits_synthesized.
-- A batch stored between two others (a spool replayed late) changes the
-- contribution of the one after it; the collector moves that difference into
-- the later batch's hour, so every row is the sum of what its batches
-- contribute given all batches stored so far, as the backfill below computes.
-- Counters are accepted up to 2^63 - 1, so loss sums can pass it: SQLite's
-- integer + then turns the row's value REAL, and the backfill and the report
-- sum with total() (REAL, never the "integer overflow" error of sum()); a
-- REAL that is a whole number below 2^63 is stored back as an INTEGER.

CREATE INDEX IF NOT EXISTS batches_end ON batches (window_end_ns);

CREATE TABLE IF NOT EXISTS agent_hour (
  hour      INTEGER NOT NULL,
  agent_id  TEXT    NOT NULL,
  batches   INTEGER NOT NULL,
  host      TEXT    NOT NULL,
  seq_gaps  INTEGER NOT NULL,
  l0        INTEGER NOT NULL,
  l1        INTEGER NOT NULL,
  l2        INTEGER NOT NULL,
  l3        INTEGER NOT NULL,
  l4        INTEGER NOT NULL,
  l5        INTEGER NOT NULL,
  l6        INTEGER NOT NULL,
  l7        INTEGER NOT NULL,
  PRIMARY KEY (hour, agent_id)
) WITHOUT ROWID;

INSERT INTO agent_hour
SELECT b.window_end_ns / 3600000000000, b.agent_id, count(*), max(b.host),
       coalesce(sum(g.gap), 0),
       total(i.l0), total(i.l1), total(i.l2), total(i.l3), total(i.l4), total(i.l5), total(i.l6), total(i.l7)
  FROM batches b
  LEFT JOIN (SELECT id, coalesce(seq - lag(seq) OVER (PARTITION BY agent_id ORDER BY seq) - 1, 0) AS gap
               FROM (SELECT id, agent_id, seq,
                            row_number() OVER (PARTITION BY agent_id, seq ORDER BY id) AS k
                       FROM batches)
              WHERE k = 1) g ON g.id = b.id
  LEFT JOIN (SELECT id,
                    c0 - CASE WHEN p0 <= c0 THEN p0 ELSE 0 END AS l0,
                    c1 - CASE WHEN p1 <= c1 THEN p1 ELSE 0 END AS l1,
                    c2 - CASE WHEN p2 <= c2 THEN p2 ELSE 0 END AS l2,
                    c3 - CASE WHEN p3 <= c3 THEN p3 ELSE 0 END AS l3,
                    c4 - CASE WHEN p4 <= c4 THEN p4 ELSE 0 END AS l4,
                    c5 - CASE WHEN p5 <= c5 THEN p5 ELSE 0 END AS l5,
                    c6 - CASE WHEN p6 <= c6 THEN p6 ELSE 0 END AS l6,
                    c7 - CASE WHEN p7 <= c7 THEN p7 ELSE 0 END AS l7
               FROM (SELECT x.id,
                            l.ringbuf_drops AS c0, lag(l.ringbuf_drops) OVER w AS p0,
                            l.map_full AS c1, lag(l.map_full) OVER w AS p1,
                            l.payload_drops AS c2, lag(l.payload_drops) OVER w AS p2,
                            l.parse_errors AS c3, lag(l.parse_errors) OVER w AS p3,
                            l.statements_overflow AS c4, lag(l.statements_overflow) OVER w AS p4,
                            l.jobs_overflow AS c5, lag(l.jobs_overflow) OVER w AS p5,
                            l.spool_dropped_batches AS c6, lag(l.spool_dropped_batches) OVER w AS p6,
                            l.exits_synthesized AS c7, lag(l.exits_synthesized) OVER w AS p7
                       FROM batches x JOIN loss l ON l.batch_id = x.id
                     WINDOW w AS (PARTITION BY x.agent_id, x.boot_id ORDER BY x.seq))) i ON i.id = b.id
 GROUP BY 1, 2;
