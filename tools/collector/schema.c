/* Embedded schema files: see schema.h.
 *
 * .incbin pulls the .sql files in at assembly time (paths are relative to
 * the repository root, where make runs the compiler), followed by a NUL so
 * that each is a C string.  Adding a migration: add its file under
 * migrations/, one INCBIN line and one table row below.
 *
 * make does not see .incbin inputs (-MMD lists #include files only), so
 * editing a .sql file needs a rebuild of this object (touch schema.c);
 * test_collector_store compares every embedded text with its file and
 * fails on a stale build.  Released migrations never change anyway. */
#include "tools/collector/schema.h"

#define INCBIN(sym, file)                                        \
	__asm__(".pushsection .rodata, \"a\", @progbits\n"       \
		".globl " #sym "\n"                              \
		".hidden " #sym "\n"                             \
		".type " #sym ", @object\n"                      \
		#sym ":\n"                                       \
		".incbin \"" file "\"\n"                         \
		".byte 0\n"                                      \
		".size " #sym ", . - " #sym "\n"                 \
		".popsection\n");                                \
	extern const char sym[]

INCBIN(jm_coll_sql_v1, "tools/collector/schema.sql");
INCBIN(jm_coll_sql_v2, "tools/collector/migrations/002_rollups.sql");
INCBIN(jm_coll_sql_v3, "tools/collector/migrations/003_statement_percentiles.sql");
INCBIN(jm_coll_sql_v4, "tools/collector/migrations/004_agent_hour.sql");
INCBIN(jm_coll_sql_v5, "tools/collector/migrations/005_rows_unknown.sql");
INCBIN(jm_coll_sql_v6, "tools/collector/migrations/006_connections_unreadable.sql");

static const struct jm_coll_migration migrations[] = {
	{ 1, "schema.sql", jm_coll_sql_v1 },
	{ 2, "migrations/002_rollups.sql", jm_coll_sql_v2 },
	{ 3, "migrations/003_statement_percentiles.sql", jm_coll_sql_v3 },
	{ 4, "migrations/004_agent_hour.sql", jm_coll_sql_v4 },
	{ 5, "migrations/005_rows_unknown.sql", jm_coll_sql_v5 },
	{ 6, "migrations/006_connections_unreadable.sql", jm_coll_sql_v6 },
};

const struct jm_coll_migration *jm_coll_schema_migrations(size_t *n)
{
	*n = sizeof(migrations) / sizeof(migrations[0]);
	return migrations;
}

int jm_coll_schema_latest(void)
{
	return migrations[sizeof(migrations) / sizeof(migrations[0]) - 1].version;
}
