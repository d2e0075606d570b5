/* Command line of jobmeter-agent.  Parsing is pure (no side effects beyond
 * the opts struct and an error message) so it is unit-tested. */
#ifndef JM_CLI_H
#define JM_CLI_H
#include <stdbool.h>
#include <stddef.h>

struct jm_cli_opts {
	const char *config;         /* --config FILE (required) */
	const char *jsonl;          /* --jsonl PATH or "-" (stdout); NULL = none */
	const char *ready_file;     /* --ready-file PATH */
	const char *metrics_listen; /* --metrics-listen ADDR:PORT (overrides config) */
	const char *state_dir;      /* --state-dir DIR (agent id; default /var/lib/jobmeter) */
	unsigned interval_s;        /* --interval (0 = from config) */
	double duration_s;          /* --duration (0 = run until SIGTERM) */
	int verbosity;              /* -v (repeatable), -q */
	bool help;
	bool version;
	bool check_config;          /* --check-config: parse, report, exit */
};

/* 0 on success; -1 with a one-line message in err. */
int jm_cli_parse(int argc, char **argv, struct jm_cli_opts *o, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The full --help text (options and config format). */
const char *jm_cli_usage(void);
#endif
