/* The cumulative loss: kernel counters (read every window) and user-space
 * increments of the same field must add up, window after window. */
#include <errno.h>

#include "harness.h"
#include "loss.h"

int main(void)
{
	struct jm_loss l;
	struct jm_loss_kernel seen;
	uint64_t k[JM_STAT_MAX];

	memset(&l, 0, sizeof(l));
	memset(&seen, 0, sizeof(seen));
	memset(k, 0, sizeof(k));

	/* window 1: two failed jm_probes_track in user space, nothing in the kernel */
	l.map_full += 2;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: user-space map_full survives a zero kernel reading", l.map_full, 2);

	/* window 2: the kernel's procs and conns maps filled 3 + 4 times, user space once more */
	k[JM_STAT_PROCS_FULL] = 3;
	k[JM_STAT_CONNS_FULL] = 4;
	l.map_full += 1;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: map_full is user space + kernel", l.map_full, 2 + 1 + 3 + 4);

	/* window 3: nothing new anywhere: a reading adds nothing twice */
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: an unchanged kernel reading adds nothing", l.map_full, 10);

	/* window 4: kernel-only counters follow the kernel */
	k[JM_STAT_EVENTS_DROPPED] = 5;
	k[JM_STAT_PAYLOADS_DROPPED] = 6;
	k[JM_STAT_PAYLOAD_TRUNC] = 7;
	k[JM_STAT_PROCS_FULL] = 4;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: ringbuf_drops", l.ringbuf_drops, 5);
	CHECK_INT("loss: payload_drops", l.payload_drops, 6);
	CHECK_INT("loss: payload_truncated", l.payload_truncated, 7);
	CHECK_INT("loss: map_full grows by the kernel's growth", l.map_full, 11);

	/* a counter that goes backwards (maps reloaded) restarts, never subtracts */
	k[JM_STAT_EVENTS_DROPPED] = 1;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: a kernel counter going back adds its new value", l.ringbuf_drops, 6);
	CHECK_INT("loss: other fields untouched by it", l.map_full, 11);

	/* kept across restarts of the agent, within one boot */
	{
		struct jm_loss a = { 1, 2, 3, 4, 5, 6, 7, 8, INT64_MAX }, b;
		char buf[512];
		int n = jm_loss_format(&a, "boot-1", buf, sizeof(buf));
		CHECK("state: formats", n > 0);
		CHECK_STR("state: golden", buf,
			  "boot_id boot-1\nringbuf_drops 1\nmap_full 2\npayload_drops 3\n"
			  "payload_truncated 4\nparse_errors 5\nstatements_overflow 6\n"
			  "jobs_overflow 7\nspool_dropped_batches 8\n"
			  "exits_synthesized 9223372036854775807\n");
		CHECK_INT("state: parses back", jm_loss_parse(buf, "boot-1", &b), 0);
		CHECK("state: the same counters", memcmp(&a, &b, sizeof(a)) == 0);
		CHECK_INT("state: another boot starts from zero", jm_loss_parse(buf, "boot-2", &b), -ESTALE);
		CHECK_INT("state: too small a buffer", jm_loss_format(&a, "boot-1", buf, 40), -ENOSPC);
		CHECK_INT("state: a field missing", jm_loss_parse("boot_id b\nringbuf_drops 1\n", "b", &b),
			  -EINVAL);
		n = jm_loss_format(&a, "b", buf, sizeof(buf));
		char *x = strstr(buf, "map_full 2");
		if (x)
			x[9] = 'x';
		CHECK_INT("state: a bad number", jm_loss_parse(buf, "b", &b), -EINVAL);
		CHECK_INT("state: no boot id", jm_loss_parse("ringbuf_drops 1\n", "b", &b), -EINVAL);
		CHECK_INT("state: a negative number", jm_loss_parse("boot_id b\nringbuf_drops -1\n", "b", &b),
			  -EINVAL);
		CHECK_INT("state: empty", jm_loss_parse("", "b", &b), -EINVAL);
		struct jm_loss s1 = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, s2 = { 10, 20, 30, 40, 50, 60, 70, 80, 90 };
		jm_loss_add(&s1, &s2);
		CHECK("add: every field", s1.ringbuf_drops == 11 && s1.map_full == 22 && s1.payload_drops == 33 &&
		      s1.payload_truncated == 44 && s1.parse_errors == 55 && s1.statements_overflow == 66 &&
		      s1.jobs_overflow == 77 && s1.spool_dropped_batches == 88 && s1.exits_synthesized == 99);
		/* what the collector would refuse in every batch after */
		a.exits_synthesized = (uint64_t)INT64_MAX + 1;
		CHECK("state: formats a value above INT64_MAX", jm_loss_format(&a, "b", buf, sizeof(buf)) > 0);
		CHECK_INT("state: ... but does not take it back", jm_loss_parse(buf, "b", &b), -EINVAL);
		a.exits_synthesized = 1;
		n = jm_loss_format(&a, "b", buf, sizeof(buf));
		buf[n - 2] = '\0';                   /* cut inside the last number */
		CHECK_INT("state: a file cut short", jm_loss_parse(buf, "b", &b), -EINVAL);
		n = jm_loss_format(&a, "b", buf, sizeof(buf));
		strcat(buf, "map_full 9\n");
		CHECK_INT("state: a field twice", jm_loss_parse(buf, "b", &b), -EINVAL);
		n = jm_loss_format(&a, "b", buf, sizeof(buf));
		strcat(buf, "boot_id b\n");
		CHECK_INT("state: the boot twice", jm_loss_parse(buf, "b", &b), -EINVAL);
		n = jm_loss_format(&a, "b", buf, sizeof(buf));
		strcat(buf, "future_counter 3\n");
		CHECK_INT("state: an unknown field is left alone", jm_loss_parse(buf, "b", &b), 0);
	}
	TEST_EXIT();
}
