/* Agent configuration: the YAML file given by --config, parsed into plain
 * structs.  An empty file is valid and means every default below.
 *
 * Format (every key optional):
 *
 *   interval: 10                       # seconds per window / batch
 *   max_jobs: 1000                     # distinct jobs tracked at once
 *   metrics_listen: 127.0.0.1:9464     # Prometheus /metrics (off when absent)
 *   env_identity:                      # extra env var sets (JOBMETER_JOB is built in);
 *                                      # <= 8 distinct names with JOBMETER_JOB and
 *                                      # JOBMETER_RUN_ID, each <= 30 chars (the exec
 *                                      # probe's slots, bpf/process.h): more is an error
 *     - vars: [AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID]
 *       separator: "."
 *       run_id_var: AIRFLOW_CTX_DAG_RUN_ID
 *   systemd:                           # unit name glob -> job
 *     - unit: "etl-*.service"
 *       job: sales                     # default: the unit name without suffix
 *   kubernetes:
 *     enabled: true                    # default true
 *     log_root: /var/log
 *   jobs:
 *     - name: nightly-sales
 *       match:                         # every given criterion must match
 *         comm: python3                # exact comm (15 chars max)
 *         exe: "/usr/bin/python3*"     # glob on the executable path
 *         argv: "sales_etl\\.py"       # POSIX extended regex on argv joined by ' '
 *         cgroup: "/system.slice/etl-*"  # glob on the cgroup path (v2; v1: name=systemd, else memory)
 *       outputs:
 *         - table: public.sales
 *         - file: "/data/curated/sales/part-*.parquet"
 *   db:
 *     capture_bytes: 512               # payload head copied per syscall (64..4096)
 *     max_fingerprints: 200            # per job
 *     postgres: {ports: [5432], sockets: [/var/run/postgresql/.s.PGSQL.5432]}
 *     mysql:    {ports: [3306], sockets: [/run/mysqld/mysqld.sock]}
 *   collector:
 *     url: https://collector:8443/v1/batches
 *     token_file: /etc/jobmeter/token
 *     ca_file: /etc/jobmeter/ca.pem
 *     spool_dir: /var/lib/jobmeter/spool
 *     spool_max_mb: 256
 *     timeout_s: 10
 *   otlp:
 *     url: http://otel-collector:4318/v1/metrics
 *
 * Errors name the file, line and problem: "agent.yaml:7: jobs[0].match.argv:
 * invalid regex: ...".  Unknown keys are errors (a typo must not silently
 * disable a rule). */
#ifndef JM_CONFIG_H
#define JM_CONFIG_H
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JM_CFG_MAX_JOBS       256
#define JM_CFG_MAX_OUTPUTS    16
#define JM_CFG_MAX_ENV_SETS   8
#define JM_CFG_MAX_ENV_VARS   4
#define JM_CFG_MAX_SYSTEMD    64
#define JM_CFG_MAX_ENDPOINTS  8
#define JM_CFG_PATH_MAX       256
#define JM_CFG_ERR_MAX        512

struct jm_cfg_output {
	bool is_file;                       /* false: table */
	char name[JM_CFG_PATH_MAX];         /* table "schema.name" or a file glob */
};

struct jm_cfg_job {
	char name[128];
	/* match criteria; an empty string / has_argv=false means "not given" */
	char comm[16];
	char exe_glob[JM_CFG_PATH_MAX];
	char cgroup_glob[JM_CFG_PATH_MAX];
	char argv_src[JM_CFG_PATH_MAX];
	bool has_argv;
	regex_t argv_re;                    /* compiled when has_argv */
	size_t n_outputs;
	struct jm_cfg_output outputs[JM_CFG_MAX_OUTPUTS];
};

struct jm_cfg_env_set {
	size_t n_vars;
	char vars[JM_CFG_MAX_ENV_VARS][64];
	char separator[8];                  /* default "." */
	char run_id_var[64];                /* optional */
};

struct jm_cfg_systemd {
	char unit_glob[128];
	char job[128];                      /* empty: unit name minus ".service"/".scope" */
};

struct jm_cfg_db_endpoints {
	size_t n_ports;
	uint16_t ports[JM_CFG_MAX_ENDPOINTS];
	size_t n_sockets;
	char sockets[JM_CFG_MAX_ENDPOINTS][108];
};

struct jm_config {
	char path[JM_CFG_PATH_MAX];         /* file it came from */
	unsigned interval_s;                /* default 10 */
	unsigned max_jobs;                  /* default 1000 */
	char metrics_listen[64];            /* "" = off */

	size_t n_env_sets;
	struct jm_cfg_env_set env_sets[JM_CFG_MAX_ENV_SETS];

	size_t n_systemd;
	struct jm_cfg_systemd systemd[JM_CFG_MAX_SYSTEMD];

	bool k8s_enabled;                   /* default true */
	char k8s_log_root[JM_CFG_PATH_MAX]; /* default "/var/log" */

	size_t n_jobs;
	struct jm_cfg_job jobs[JM_CFG_MAX_JOBS];

	bool db_enabled;                    /* default true: DB wire protocol tracing */
	unsigned db_capture_bytes;          /* default 512, 64..4096 */
	unsigned db_max_fingerprints;       /* default 200 */
	struct jm_cfg_db_endpoints pg;      /* default port 5432, /var/run/postgresql/.s.PGSQL.5432, /run/postgresql/.s.PGSQL.5432, /tmp/.s.PGSQL.5432 */
	struct jm_cfg_db_endpoints mysql;   /* default port 3306, /run/mysqld/mysqld.sock, /var/run/mysqld/mysqld.sock, /tmp/mysql.sock */

	char collector_url[512];            /* "" = no shipping */
	char collector_token_file[JM_CFG_PATH_MAX];
	char collector_ca_file[JM_CFG_PATH_MAX];
	char spool_dir[JM_CFG_PATH_MAX];    /* default /var/lib/jobmeter/spool */
	unsigned spool_max_mb;              /* default 256 */
	unsigned collector_timeout_s;       /* default 10 */

	char otlp_url[512];                 /* "" = off */
};

/* Fill *cfg with every default. */
void jm_config_defaults(struct jm_config *cfg);

/* Parse a YAML file into *cfg (defaults first).  On error returns -1 and
 * writes "FILE:LINE: problem" into err. */
int jm_config_load(struct jm_config *cfg, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Same, from a buffer; name is used in error messages. */
int jm_config_parse(struct jm_config *cfg, const char *name, const char *buf, size_t len,
		    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Release compiled regexes. */
void jm_config_free(struct jm_config *cfg);

/* Find the configured job by name (for outputs); NULL when not declared. */
const struct jm_cfg_job *jm_config_find_job(const struct jm_config *cfg, const char *name);
#endif
