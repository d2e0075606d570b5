/* Kernel loss counters folded into the cumulative loss.  See loss.h. */
#include "loss.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the kernel counted since the last reading.  Its counters only grow
 * while the maps live; one that went back was reset, and its whole new
 * value is new loss. */
static uint64_t growth(uint64_t *seen, uint64_t now)
{
	uint64_t d = now >= *seen ? now - *seen : now;

	*seen = now;
	return d;
}

void jm_loss_fold_kernel(struct jm_loss *l, struct jm_loss_kernel *seen,
			 const uint64_t k[JM_STAT_MAX])
{
	/* Added, never assigned: user space increments map_full too (a
	 * jm_probes_track or a verdict refused because a map was full). */
	l->ringbuf_drops += growth(&seen->stat[JM_STAT_EVENTS_DROPPED], k[JM_STAT_EVENTS_DROPPED]);
	l->payload_drops += growth(&seen->stat[JM_STAT_PAYLOADS_DROPPED], k[JM_STAT_PAYLOADS_DROPPED]);
	l->map_full += growth(&seen->stat[JM_STAT_PROCS_FULL], k[JM_STAT_PROCS_FULL]);
	l->map_full += growth(&seen->stat[JM_STAT_CONNS_FULL], k[JM_STAT_CONNS_FULL]);
	l->payload_truncated += growth(&seen->stat[JM_STAT_PAYLOAD_TRUNC], k[JM_STAT_PAYLOAD_TRUNC]);
}

static const struct {
	const char *name;
	size_t off;
} fields[] = {
#define F(x) { #x, offsetof(struct jm_loss, x) }
	F(ringbuf_drops), F(map_full), F(payload_drops), F(payload_truncated), F(parse_errors),
	F(statements_overflow), F(jobs_overflow), F(spool_dropped_batches), F(exits_synthesized),
#undef F
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static uint64_t *field(struct jm_loss *l, size_t i)
{
	return (uint64_t *)(void *)((char *)l + fields[i].off);
}

void jm_loss_add(struct jm_loss *a, const struct jm_loss *b)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		*field(a, i) += *field((struct jm_loss *)b, i);
}

int jm_loss_format(const struct jm_loss *l, const char *boot_id, char *buf, size_t cap)
{
	size_t o = 0;
	int n = snprintf(buf, cap, "boot_id %s\n", boot_id);

	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	o = (size_t)n;
	for (size_t i = 0; i < N_FIELDS; i++) {
		n = snprintf(buf + o, cap - o, "%s %" PRIu64 "\n", fields[i].name,
			     *field((struct jm_loss *)l, i));
		if (n < 0 || (size_t)n >= cap - o)
			return -ENOSPC;
		o += (size_t)n;
	}
	return (int)o;
}

int jm_loss_parse(const char *text, const char *boot_id, struct jm_loss *out)
{
	struct jm_loss l;
	bool seen[N_FIELDS] = { false }, boot = false;
	const char *p = text;

	memset(&l, 0, sizeof(l));
	size_t tlen = strlen(text);
	if (tlen == 0 || text[tlen - 1] != '\n')
		return -EINVAL;                 /* cut short: a number may be cut too */
	while (*p) {
		const char *eol = strchr(p, '\n'), *sp = strchr(p, ' ');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (!sp || sp >= p + len)
			return -EINVAL;
		size_t klen = (size_t)(sp - p);
		const char *v = sp + 1;
		size_t vlen = len - klen - 1;
		if (klen == 7 && memcmp(p, "boot_id", 7) == 0) {
			if (boot)
				return -EINVAL;
			if (vlen != strlen(boot_id) || memcmp(v, boot_id, vlen) != 0)
				return -ESTALE;
			boot = true;
		} else {
			for (size_t i = 0; i < N_FIELDS; i++) {
				if (strlen(fields[i].name) != klen || memcmp(p, fields[i].name, klen))
					continue;
				char num[24], *end;
				if (vlen == 0 || vlen >= sizeof(num) || v[0] < '0' || v[0] > '9')
					return -EINVAL;
				memcpy(num, v, vlen);
				num[vlen] = '\0';
				errno = 0;
				unsigned long long x = strtoull(num, &end, 10);
				/* <= INT64_MAX: the collector refuses more (SQLite
				 * integers), and would refuse every batch after. */
				if (errno || *end || x > (unsigned long long)INT64_MAX || seen[i])
					return -EINVAL;
				*field(&l, i) = x;
				seen[i] = true;
			}
		}
		p += len + (eol ? 1 : 0);
	}
	if (!boot)
		return -EINVAL;
	for (size_t i = 0; i < N_FIELDS; i++)
		if (!seen[i])
			return -EINVAL;
	*out = l;
	return 0;
}
