/* Database client telemetry and dataset freshness, in user space.
 *
 * Inputs: connect/close/open/rename events and payload heads of DB
 * connections, in order, from bpf/io.bpf.c through the io ring.  Each connection is
 * classified from its endpoint (configured ports and socket paths) or, when
 * the endpoint is unknown, from its first bytes (PostgreSQL startup message,
 * MySQL server greeting); anything else is dropped from the kernel's
 * connection map so it stops paying for copies.  Classified connections get
 * a protocol parser (agent/protocol/); every completed query is fingerprinted
 * (literals redacted — raw SQL never leaves this module) and added to the
 * run's and the job window's jm_db_stats.  Successful writes to a job's
 * declared output tables and files update their last_write (freshness). */
#ifndef JM_DB_H
#define JM_DB_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model.h"
#include "probes.h"
#include "process.h"

struct jm_db;

struct jm_db *jm_db_new(const struct jm_config *cfg, struct jm_probes *probes,
			struct jm_tracker *tracker, struct jm_loss *loss);
void jm_db_free(struct jm_db *d);

/* End the connections of processes that are gone (Unix sockets have no
 * close event).  Call once per sampling period. */
void jm_db_sweep(struct jm_db *d, uint64_t now_mono);

/* JM_EV_CONNECT / CLOSE / OPEN / RENAME records from the io ring. */
void jm_db_on_event(struct jm_db *d, const void *data, size_t len);
/* A JM_EV_PAYLOAD record of the io ring. */
void jm_db_on_payload(struct jm_db *d, const void *data, size_t len);

/* Classification of a connect() address against the configured endpoints
 * (pure; exposed for tests).  Writes a printable endpoint ("127.0.0.1:5432",
 * "[::1]:3306", "/var/run/postgresql/.s.PGSQL.5432"). */
enum jm_db_system jm_db_classify(const struct jm_config *cfg, const uint8_t *addr, size_t len,
				 char *endpoint, size_t endpoint_len);
/* Does a configured output table name match a statement's write target?
 * "public.sales" matches "sales" and "public.sales" (case-insensitive). */
bool jm_db_table_matches(const char *configured, const char *target);
#endif
