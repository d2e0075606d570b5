/* The in-memory data model of jobmeter: one finished run, one per-job window,
 * and the loss counters.  The JSONL renderer (agent/render_json.c) and the
 * protobuf renderer (agent/render_pb.c) both take these structs, so the two
 * outputs cannot drift apart.  Mirrors proto/jobmeter.proto. */
#ifndef JM_MODEL_H
#define JM_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JM_JOB_NAME_MAX   128
#define JM_RUN_ID_MAX     96
#define JM_ENDPOINT_MAX   108
#define JM_FPRINT_MAX     512
#define JM_HIST_BUCKETS   64     /* see agent/histogram.h */
#define JM_LABELS_MAX     6

struct jm_counters {
	uint64_t processes;
	double   cpu_s;
	uint64_t peak_rss_bytes;
	double   mem_gib_s;
	uint64_t file_read_bytes;
	uint64_t file_write_bytes;
	uint64_t net_rx_bytes;
	uint64_t net_tx_bytes;
};

struct jm_stmt_stats {
	char     fingerprint[JM_FPRINT_MAX];
	uint64_t calls;
	uint64_t errors;
	uint64_t rows;
	uint64_t rows_unknown;            /* calls whose row count went by unseen */
	double   latency_s_sum;
	char     last_error[16];          /* SQLSTATE or "errno/SQLSTATE" */
	double   latency_p50_s, latency_p95_s, latency_p99_s;
	uint64_t fp_hash;                 /* hash of fingerprint (lookup only; not rendered) */
	uint64_t latency_buckets[JM_HIST_BUCKETS];   /* per statement (not rendered) */
	uint64_t latency_min_ns, latency_max_ns;     /* exact extremes: bound the percentiles (not rendered) */
};

enum jm_db_system { JM_DB_NONE = 0, JM_DB_POSTGRES = 1, JM_DB_MYSQL = 2 };

struct jm_db_stats {
	enum jm_db_system system;
	char     endpoint[JM_ENDPOINT_MAX];
	uint64_t queries;
	uint64_t errors;
	uint64_t rows;
	uint64_t rows_unknown;             /* queries whose row count went by unseen */
	uint64_t tx_bytes;
	uint64_t rx_bytes;
	double   latency_s_sum;
	double   latency_p50_s, latency_p95_s, latency_p99_s;
	uint64_t latency_buckets[JM_HIST_BUCKETS];
	uint64_t latency_min_ns, latency_max_ns;     /* exact extremes: bound the percentiles (not rendered) */
	uint64_t statements_overflow;
	/* Connections whose statements cannot be read (TLS, GSS encryption,
	 * MySQL compression): their bytes are counted, their queries are
	 * not.  In JSON when non-zero and in /metrics; not in the protobuf. */
	uint64_t conns_unreadable;
	size_t   n_statements;
	struct jm_stmt_stats *statements;  /* owned by whoever built the record */
};

enum jm_output_kind { JM_OUTPUT_TABLE = 0, JM_OUTPUT_FILE = 1 };

struct jm_output_write {
	enum jm_output_kind kind;
	char    name[256];
	int64_t last_write_ns;            /* Unix ns; 0 = never written */
};

enum jm_outcome { JM_OUTCOME_UNSPECIFIED = 0, JM_OUTCOME_SUCCESS = 1, JM_OUTCOME_FAILURE = 2 };

struct jm_label {
	char key[32];
	char value[128];
};

struct jm_run_record {
	char     job[JM_JOB_NAME_MAX];
	char     run_id[JM_RUN_ID_MAX];
	int64_t  start_ns, end_ns;        /* Unix ns */
	enum jm_outcome outcome;
	int32_t  exit_code;               /* -1 when killed by a signal */
	int32_t  signal;
	bool     oom_killed;
	bool     restart;
	char     source[16];              /* env | rule | systemd | kubernetes | proc */
	struct jm_counters counters;
	size_t   n_db;
	struct jm_db_stats *db;
	size_t   n_outputs;
	struct jm_output_write *outputs;
	size_t   n_labels;
	struct jm_label labels[JM_LABELS_MAX];
};

struct jm_window_record {
	char     job[JM_JOB_NAME_MAX];
	char     run_id[JM_RUN_ID_MAX];
	int64_t  start_ns, end_ns;        /* Unix ns */
	struct jm_counters counters;      /* deltas over [start, end) */
	size_t   n_db;
	struct jm_db_stats *db;
	size_t   n_outputs;
	struct jm_output_write *outputs;
	/* Its run's labels (k8s, systemd) when the job has one run live: the
	 * OTLP resource of the usage.  Not in the protobuf window. */
	size_t   n_labels;
	struct jm_label *labels;
};

/* Cumulative since agent start. */
struct jm_loss {
	uint64_t ringbuf_drops;
	uint64_t map_full;
	uint64_t payload_drops;
	uint64_t payload_truncated;
	uint64_t parse_errors;
	uint64_t statements_overflow;
	uint64_t jobs_overflow;
	uint64_t spool_dropped_batches;
	uint64_t exits_synthesized;
};

struct jm_agent_identity {
	char host[128];
	char agent_id[64];
	char boot_id[64];
	char kernel[128];
	char version[64];
};

struct jm_host_usage {
	uint32_t cpu_cores;
	double   cpu_busy_s;
	uint64_t mem_total_bytes;
	uint64_t mem_used_bytes;
	double   window_s;
};

/* Everything one shipped batch carries (proto: jobmeter.v1.Batch). */
struct jm_batch {
	struct jm_agent_identity agent;
	uint64_t seq;
	int64_t  window_start_ns, window_end_ns;   /* Unix ns */
	size_t   n_runs;
	const struct jm_run_record *runs;
	size_t   n_windows;
	const struct jm_window_record *windows;
	struct jm_host_usage host;
	struct jm_loss loss;
};

static inline const char *jm_db_system_name(enum jm_db_system s)
{
	return s == JM_DB_POSTGRES ? "postgresql" : s == JM_DB_MYSQL ? "mysql" : "unknown";
}

static inline const char *jm_outcome_name(enum jm_outcome o)
{
	return o == JM_OUTCOME_SUCCESS ? "success" : o == JM_OUTCOME_FAILURE ? "failure" : "unknown";
}
#endif
