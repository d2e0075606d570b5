/* jobmeter-collector: receives agent batches over HTTP(S) and stores them in
 * SQLite.  main() parses the command line, opens the store, starts the
 * writer thread (group commit, writer.h) and the HTTP server, and waits for
 * SIGTERM/SIGINT; `gen-batch` is a developer mode that
 * writes a synthetic batch instead (gen.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "tools/collector/auth.h"
#include "tools/collector/gen.h"
#include "tools/collector/http.h"
#include "tools/collector/metrics.h"
#include "tools/collector/store.h"
#include "tools/collector/writer.h"

#ifndef JOBMETER_VERSION
#define JOBMETER_VERSION "dev"
#endif

#define PEM_MAX (1u << 20)

static void usage(FILE *out)
{
	fputs(
"Usage: jobmeter-collector --listen ADDR:PORT --db PATH [OPTIONS]\n"
"       jobmeter-collector gen-batch [OPTIONS] > batch.pb   (developer/test tool)\n"
"\n"
"Receives jobmeter agent batches (POST /v1/batches, protobuf, gzip or identity)\n"
"and stores them in a SQLite database for jobmeter-report.\n"
"Also serves GET /healthz and GET /metrics (Prometheus text format).\n"
"\n"
"  --listen ADDR:PORT      address to listen on: 127.0.0.1:9464, [::1]:9464,\n"
"                          :9464 for all interfaces, port 0 for any free port\n"
"  --db PATH               SQLite database (created and migrated if needed)\n"
"  --token-file FILE       require 'Authorization: Bearer <token>' (token = file\n"
"                          content without surrounding whitespace)\n"
"  --tls-cert FILE --tls-key FILE   serve HTTPS with this PEM certificate and key\n"
"  --max-body BYTES        largest request body as sent (default 4MiB)\n"
"  --max-decompressed BYTES  largest body after gzip (default 32MiB)\n"
"  --max-ingest N          batches received or processed at once before 503\n"
"                          (default 32)\n"
"  --max-queue N           decoded batches waiting for the database writer\n"
"                          before 503 (default 64)\n"
"  --group-max N           most batches committed in one transaction (default 256)\n"
"  --group-wait-us N       how long the writer waits for batches still being\n"
"                          received to join a transaction (default 1000)\n"
"  --max-connections N     open connections (default 64)\n"
"  --help, --version\n"
"BYTES take an optional K, M or G suffix (powers of 1024).\n"
"SIGTERM/SIGINT: stop accepting, finish requests in progress, close the database.\n"
"\n", out);
	jm_coll_gen_usage(out);
}

static int parse_bytes(const char *s, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; break;
		case 'm': case 'M': mul = 1ull << 20; break;
		case 'g': case 'G': mul = 1ull << 30; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (v == 0 || v > (unsigned long long)SIZE_MAX / mul / 16)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v == 0 || v > 100000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Read a small file (PEM) into a NUL-terminated heap buffer. */
static char *read_small_file(const char *path, char *err, size_t err_len)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(PEM_MAX + 1);
	if (!buf) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	while (len < PEM_MAX && (n = read(fd, buf + len, PEM_MAX - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	if (len == 0 || len >= PEM_MAX) {
		snprintf(err, err_len, "%s is empty or larger than %u bytes", path, PEM_MAX);
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (buf)
		explicit_bzero(buf, PEM_MAX + 1);
	free(buf);
	close(fd);
	return NULL;
}

struct cli {
	const char *listen, *db, *token_file, *tls_cert, *tls_key;
	size_t max_body, max_decompressed;
	unsigned max_ingest, max_connections;
	struct jm_coll_writer_config writer;
};

enum { O_LISTEN = 256, O_DB, O_TOKEN, O_CERT, O_KEY, O_MAXBODY, O_MAXDEC, O_MAXINGEST, O_MAXCONN,
       O_MAXQUEUE, O_GROUPMAX, O_GROUPWAIT, O_HELP, O_VERSION };

/* Returns 0 to run, 1 to exit 0 (help/version), -1 on a usage error. */
static int parse_cli(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "db", required_argument, NULL, O_DB },
		{ "token-file", required_argument, NULL, O_TOKEN },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "max-body", required_argument, NULL, O_MAXBODY },
		{ "max-decompressed", required_argument, NULL, O_MAXDEC },
		{ "max-ingest", required_argument, NULL, O_MAXINGEST },
		{ "max-connections", required_argument, NULL, O_MAXCONN },
		{ "max-queue", required_argument, NULL, O_MAXQUEUE },
		{ "group-max", required_argument, NULL, O_GROUPMAX },
		{ "group-wait-us", required_argument, NULL, O_GROUPWAIT },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(c, 0, sizeof(*c));
	c->max_body = 4u << 20;
	c->max_decompressed = 32u << 20;
	c->max_ingest = 32;
	c->max_connections = 64;
	c->writer.queue_max = 64;
	c->writer.group_max = 256;
	c->writer.group_wait_us = 1000;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case O_LISTEN: c->listen = optarg; break;
		case O_DB: c->db = optarg; break;
		case O_TOKEN: c->token_file = optarg; break;
		case O_CERT: c->tls_cert = optarg; break;
		case O_KEY: c->tls_key = optarg; break;
		case O_MAXBODY:
			if (parse_bytes(optarg, &c->max_body))
				goto bad;
			break;
		case O_MAXDEC:
			if (parse_bytes(optarg, &c->max_decompressed))
				goto bad;
			break;
		case O_MAXINGEST:
			if (parse_count(optarg, &c->max_ingest))
				goto bad;
			break;
		case O_MAXCONN:
			if (parse_count(optarg, &c->max_connections))
				goto bad;
			break;
		case O_MAXQUEUE:
			if (parse_count(optarg, &c->writer.queue_max))
				goto bad;
			break;
		case O_GROUPMAX:
			if (parse_count(optarg, &c->writer.group_max))
				goto bad;
			break;
		case O_GROUPWAIT:
			/* 0 is allowed: commit whatever is queued at once. */
			if (strcmp(optarg, "0") == 0)
				c->writer.group_wait_us = 0;
			else if (parse_count(optarg, &c->writer.group_wait_us))
				goto bad;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 1;
		case O_VERSION:
			printf("jobmeter-collector %s\n", JOBMETER_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'jobmeter-collector --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		jm_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!c->listen || !c->db) {
		jm_err("--listen and --db are required (see --help)");
		return -1;
	}
	if (!c->tls_cert != !c->tls_key) {
		jm_err("--tls-cert and --tls-key go together");
		return -1;
	}
	return 0;
bad:
	jm_err("invalid value '%s' for --%s", optarg, opts[opt - O_LISTEN].name);
	return -1;
}

int main(int argc, char **argv)
{
	struct jm_coll_http_config hc = { 0 };
	struct jm_coll_store_open_info info;
	struct jm_coll_store *store = NULL;
	struct jm_coll_metrics *metrics = NULL;
	struct jm_coll_server *srv = NULL;
	struct jm_coll_writer *writer = NULL;
	char *token = NULL, *cert = NULL, *key = NULL, err[512];
	size_t token_len = 0;
	bool insecure = false;
	struct cli cli;
	sigset_t sigs;
	siginfo_t si;
	int rc = 1, p;

	if (argc > 1 && strcmp(argv[1], "gen-batch") == 0)
		return jm_coll_gen_main(argc - 1, argv + 1);
	/* stderr of a collector often goes to a plain file: stamp lines. */
	jm_log_init_flags("jobmeter-collector", JM_LOG_INFO, JM_LOG_TIMESTAMP);
	p = parse_cli(argc, argv, &cli);
	if (p)
		return p > 0 ? 0 : 2;

	/* Block the stop signals before any thread exists: every thread
	 * inherits the mask and main alone takes them with sigwaitinfo, so
	 * no handler and no global flag are needed. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cli.token_file) {
		if (jm_coll_token_load(cli.token_file, &token, &token_len, &insecure, err, sizeof(err))) {
			jm_err("%s", err);
			goto out;
		}
		if (insecure)
			jm_warn("token file %s is readable by group or others", cli.token_file);
	}
	if (cli.tls_cert) {
		if (!(cert = read_small_file(cli.tls_cert, err, sizeof(err))) ||
		    !(key = read_small_file(cli.tls_key, err, sizeof(err)))) {
			jm_err("%s", err);
			goto out;
		}
	}
	metrics = jm_coll_metrics_new();
	if (!metrics) {
		jm_err("out of memory");
		goto out;
	}
	if (jm_coll_store_open(cli.db, &store, &info, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	if (info.version_before != info.version_after)
		jm_info("database %s: schema version %d -> %d", cli.db, info.version_before,
			    info.version_after);
	hc.listen = cli.listen;
	hc.token = token;
	hc.token_len = token_len;
	hc.tls_cert_pem = cert;
	hc.tls_key_pem = key;
	hc.max_body = cli.max_body;
	hc.max_decompressed = cli.max_decompressed;
	hc.max_ingest = cli.max_ingest;
	hc.max_connections = cli.max_connections;
	if (jm_coll_writer_start(store, metrics, &cli.writer, &writer, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	if (jm_coll_server_start(&hc, store, writer, metrics, &srv, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	jm_info("listening on %s (%s, db %s, schema v%d, auth %s, max body %zu, max decompressed %zu,"
		" group commit of up to %u batches)",
		jm_coll_server_address(srv), cert ? "https" : "http", cli.db, info.version_after,
		token ? "bearer token" : "none", cli.max_body, cli.max_decompressed,
		cli.writer.group_max);

	for (;;) {
		if (sigwaitinfo(&sigs, &si) < 0) {
			if (errno == EINTR)
				continue;
			jm_err("sigwaitinfo: %s", strerror(errno));
			break;
		}
		jm_info("%s received: finishing requests in progress", strsignal(si.si_signo));
		break;
	}
	jm_coll_server_stop(srv, 10.0);
	srv = NULL;
	rc = 0;
out:
	jm_coll_server_stop(srv, 0);
	/* After the server: requests still running wait on the writer. */
	jm_coll_writer_stop(writer);
	jm_coll_store_close(store);
	jm_coll_metrics_free(metrics);
	jm_coll_token_free(token, token_len);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	if (rc == 0)
		jm_info("stopped");
	return rc;
}
