/* The collector's SQL schema, embedded in the binary from the .sql files so
 * that the files stay the single source of truth and an installed collector
 * needs no data directory.  Version 1 is tools/collector/schema.sql (the
 * agreed contract); each later version N is tools/collector/migrations/
 * 00N_*.sql, applied in order, each in its own transaction (store.c). */
#ifndef JM_COLL_SCHEMA_H
#define JM_COLL_SCHEMA_H
#include <stddef.h>

struct jm_coll_migration {
	int version;         /* schema version after applying sql */
	const char *name;    /* file it came from, for logs */
	const char *sql;     /* NUL-terminated */
};

/* Migrations in increasing version order, starting with version 1. */
const struct jm_coll_migration *jm_coll_schema_migrations(size_t *n);
/* Highest version this build knows. */
int jm_coll_schema_latest(void);
#endif
