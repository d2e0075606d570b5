#include "probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"
#include "process.skel.h"
#include "io.skel.h"
#include "xring.h"

struct jm_rb_handler { jm_event_fn fn; void *ctx; };

struct jm_probes {
	struct process_bpf *proc;
	struct io_bpf *io;
	struct ring_buffer *rb;       /* lifecycle events */
	struct jm_xring_reader xr;    /* connects, payloads, closes, opens, renames */
	struct ring_buffer *io_bell;  /* wakes the reader when the io ring fills */
	int ncpus;
	struct jm_proc_cpu *percpu;   /* scratch for per-CPU lookups */
	uint64_t *members;            /* mmap of the membership bitmap */
	const struct jm_thread_filter *tfilter;   /* mmap, read only */
	struct jm_rb_handler handlers[2];
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	if (level == LIBBPF_WARN && strstr(fmt, "PROG LOAD LOG")) {
		/* verifier logs are long: pass them through whole */
		vfprintf(stderr, fmt, ap);
		return 0;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	jm_log(level == LIBBPF_WARN ? JM_LOG_WARN : JM_LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

/* Records of either ring to their handler (libbpf's callback type has no
 * const; the io ring reader's does). */
static int xr_event(void *ctx, const void *data, size_t len)
{
	struct jm_rb_handler *h = ctx;
	return h->fn(h->ctx, data, len);
}

static int rb_event(void *ctx, void *data, size_t len)
{
	return xr_event(ctx, data, len);
}

/* A bell record says only "the io ring is filling up". */
static int bell_event(void *ctx, void *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
	return 0;
}

/* mmap a BPF_F_MMAPABLE map; NULL (and *err) on failure. */
static void *map_shared(const struct bpf_map *m, size_t bytes, const char *what, int *err)
{
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (mem == MAP_FAILED) {
		*err = -errno;
		jm_err("cannot map %s: %s", what, strerror(-*err));
		return NULL;
	}
	return mem;
}

/* One run of jm_mark over process pid or, with tid, that thread alone.
 * The tids it visited are appended to *seen (grown as needed).  0, or
 * -errno (-ESRCH/-ENOENT: no such task). */
static int mark_run(struct jm_probes *p, uint32_t pid, uint32_t tid, uint32_t **seen,
		    size_t *n, size_t *cap)
{
	union bpf_iter_link_info li = { .task = { .tid = tid, .pid = tid ? 0 : pid } };
	LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &li, .link_info_len = sizeof(li));
	struct bpf_link *l = bpf_program__attach_iter(p->proc->progs.jm_mark, &o);
	uint32_t buf[256];
	int fd, rc = 0;

	if (!l)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(l));
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : 0;
			break;
		}
		size_t k = (size_t)r / sizeof(buf[0]);
		if (*n + k > *cap) {
			size_t nc = (*n + k) * 2;
			uint32_t *ns = realloc(*seen, nc * sizeof(*ns));
			if (!ns) {
				rc = -ENOMEM;
				break;
			}
			*seen = ns;
			*cap = nc;
		}
		memcpy(*seen + *n, buf, k * sizeof(buf[0]));
		*n += k;
	}
	close(fd);
out:
	bpf_link__destroy(l);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct mark_ctx {
	struct jm_probes *p;
	uint32_t tgid;
	uint32_t *seen;               /* tids the walk visited, sorted */
	size_t n, cap;
};

/* A thread /proc lists that the walk did not visit: a run of its own. */
static int mark_missed(void *ctx, uint32_t tid)
{
	struct mark_ctx *m = ctx;
	size_t before = m->n;

	if (!tid || (m->n && bsearch(&tid, m->seen, m->n, sizeof(*m->seen), cmp_u32)))
		return 0;
	int r = mark_run(m->p, m->tgid, tid, &m->seen, &m->n, &m->cap);
	if (r && r != -ESRCH && r != -ENOENT)
		return r;
	if (m->n > before)            /* keep seen sorted for the next lookups */
		qsort(m->seen, m->n, sizeof(*m->seen), cmp_u32);
	return 0;
}

/* Put the threads of process tgid (if it is a member) into the thread
 * filter.  The kernel's walk of one process stops early when the thread it
 * stands on is released meanwhile, so the threads /proc lists that it did
 * not visit get a run of their own.  -ESRCH/-ENOENT when the process is
 * gone. */
static int mark_threads(struct jm_probes *p, uint32_t tgid)
{
	struct mark_ctx m = { .p = p, .tgid = tgid };
	int rc = mark_run(p, tgid, 0, &m.seen, &m.n, &m.cap);

	if (!rc) {
		qsort(m.seen, m.n, sizeof(*m.seen), cmp_u32);
		rc = jm_proc_each_thread(tgid, mark_missed, &m);
		if (rc == -ENOENT)
			rc = 0;               /* gone: nothing left to mark */
	}
	free(m.seen);
	return rc;
}

/* Does this kernel's mark_victim tracepoint pass the victim's task_struct
 * (btf_trace_mark_victim(void *, struct task_struct *, ...)), or only a
 * pid (older kernels)?  The BTF program's argument types come from the
 * kernel, so the wrong one would not load. */
static bool mark_victim_passes_task(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool yes = false;

	if (!btf)
		return false;
	int id = btf__find_by_name_kind(btf, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	/* typedef -> pointer -> function prototype */
	t = t ? btf__type_by_id(btf, t->type) : NULL;
	t = t && btf_is_ptr(t) ? btf__type_by_id(btf, t->type) : NULL;
	if (t && btf_is_func_proto(t) && btf_vlen(t) >= 2) {
		const struct btf_param *arg = btf_params(t) + 1;
		const struct btf_type *a = btf__type_by_id(btf, arg->type);
		while (a && (btf_is_mod(a) || btf_is_typedef(a)))
			a = btf__type_by_id(btf, a->type);
		if (a && btf_is_ptr(a)) {
			const struct btf_type *s = btf__type_by_id(btf, a->type);
			const char *name = s && btf_is_struct(s) ? btf__name_by_offset(btf, s->name_off) : NULL;
			yes = name && strcmp(name, "task_struct") == 0;
		}
	}
	btf__free(btf);
	return yes;
}

/* Does the running kernel have BTF tracepoint name (its btf_trace_
 * typedef)?  sched_prepare_exec came in 6.10. */
static bool kernel_has_btf_tracepoint(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	char tname[128];
	bool yes;

	if (!btf)
		return false;
	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	yes = btf__find_by_name_kind(btf, tname, BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return yes;
}

int jm_probes_open(struct jm_probes **out, const struct jm_probe_opts *o,
		   jm_event_fn on_event, jm_event_fn on_payload, void *ctx)
{
	struct jm_probes *p;
	int err = -ENOMEM;

	libbpf_set_print(libbpf_print);
	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. */
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	(void)setrlimit(RLIMIT_MEMLOCK, &rl);

	/* Classic tracepoints (oom:mark_victim) are found through tracefs.
	 * Minimal hosts do not mount it; a container gets it as a mount. */
	struct stat st;
	if (stat("/sys/kernel/tracing/events", &st) && stat("/sys/kernel/debug/tracing/events", &st)) {
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
			jm_warn("tracefs is not mounted at /sys/kernel/tracing and mounting it "
				"failed (%s): tracepoint attach will fail", strerror(errno));
		else
			jm_info("mounted tracefs at /sys/kernel/tracing");
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0 || p->ncpus > JM_MAX_CPUS) {
		jm_err("unsupported number of possible CPUs: %d", p->ncpus);
		err = -EINVAL;
		goto fail;
	}
	p->percpu = calloc(p->ncpus, sizeof(*p->percpu));
	if (!p->percpu)
		goto fail;

	/* 1. open */
	p->proc = process_bpf__open();
	p->io = io_bpf__open();
	if (!p->proc || !p->io) {
		err = -errno;
		jm_err("cannot open BPF objects: %s", strerror(-err));
		goto fail;
	}
	/* 2. rodata */
	p->proc->rodata->n_env_keys = o->n_env_keys;
	for (size_t i = 0; i < o->n_env_keys && i < JM_ENV_KEYS_MAX; i++)
		memcpy((char *)p->proc->rodata->env_keys[i], o->env_keys[i], JM_ENV_KEY_LEN);
	p->proc->rodata->page_size = sysconf(_SC_PAGESIZE);
	p->proc->rodata->nr_cpus = p->ncpus;
	p->proc->rodata->emit_all_exits = o->emit_all_exits;
	p->io->rodata->cap_head = o->cap_head > JM_CAP_HEAD_MAX ? JM_CAP_HEAD_MAX : o->cap_head;
	p->io->rodata->cap_tail = o->cap_tail > JM_CAP_TAIL_MAX ? JM_CAP_TAIL_MAX : o->cap_tail;
	p->io->rodata->db_trace = o->db_trace;
	/* Without DB tracing no connection state exists for it to end. */
	bpf_program__set_autoload(p->io->progs.jm_tcp_state, o->db_trace);
	/* The one program on every syscall: only for jobs with output files. */
	bpf_program__set_autoload(p->io->progs.jm_sys_exit, o->track_outputs);
	/* sock_send_length/sock_recv_length appeared in Linux 6.3: without
	 * them the agent still runs, without socket bytes and DB queries. */
	if (libbpf_find_vmlinux_btf_id("sock_send_length", BPF_TRACE_RAW_TP) < 0 ||
	    libbpf_find_vmlinux_btf_id("sock_recv_length", BPF_TRACE_RAW_TP) < 0) {
		jm_warn("this kernel has no sock_send_length/sock_recv_length tracepoints "
			"(Linux 6.3+): socket bytes and database queries are not measured");
		bpf_program__set_autoload(p->io->progs.jm_sock_send, false);
		bpf_program__set_autoload(p->io->progs.jm_sock_recv, false);
	}
	/* One of the two OOM programs (bpf/process.bpf.c). */
	bool oom_task = mark_victim_passes_task();
	bpf_program__set_autoload(p->proc->progs.jm_oom_task, oom_task);
	bpf_program__set_autoload(p->proc->progs.jm_oom, !oom_task);
	/* Without it, an image a job process exec'd from inside its job
	 * counts with its samples (README, Known limits). */
	bool prep = kernel_has_btf_tracepoint("sched_prepare_exec");
	bpf_program__set_autoload(p->proc->progs.jm_prepare_exec, prep);
	if (!prep)
		jm_info("kernel has no sched_prepare_exec tracepoint: the peak RSS of an image a "
			"job process exec'd from is taken from its samples");
	p->io->rodata->nr_cpus = p->ncpus;
	/* jm_mark runs on demand, on one process (mark_threads). */
	bpf_program__set_autoattach(p->proc->progs.jm_mark, false);

	/* 3. load: process.bpf.o owns the shared maps, io.bpf.o reuses them */
	err = process_bpf__load(p->proc);
	if (err) {
		jm_err("cannot load process.bpf.o: %s", strerror(-err));
		goto fail;
	}
	struct { struct bpf_map *dst, *src; } shared[] = {
		{ p->io->maps.procs, p->proc->maps.procs },
		{ p->io->maps.procs_spill, p->proc->maps.procs_spill },
		{ p->io->maps.lives, p->proc->maps.lives },
		{ p->io->maps.events, p->proc->maps.events },
		{ p->io->maps.stats, p->proc->maps.stats },
		{ p->io->maps.members, p->proc->maps.members },
		{ p->io->maps.thread_filter, p->proc->maps.thread_filter },
	};
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		err = bpf_map__reuse_fd(shared[i].dst, bpf_map__fd(shared[i].src));
		if (err) {
			jm_err("cannot share map %s: %s", bpf_map__name(shared[i].src), strerror(-err));
			goto fail;
		}
	}
	err = io_bpf__load(p->io);
	if (err) {
		jm_err("cannot load io.bpf.o: %s", strerror(-err));
		goto fail;
	}
	/* The membership bitmap is shared memory: user space sets bits with
	 * the same atomics the programs use. */
	p->members = map_shared(p->proc->maps.members, (size_t)JM_MEMBER_WORDS * sizeof(uint64_t),
				"the membership bitmap", &err);
	if (!p->members)
		goto fail;
	p->xr.ring = map_shared(p->io->maps.io_ring, sizeof(struct jm_xring), "the io ring", &err);
	if (!p->xr.ring)
		goto fail;
	void *tf = mmap(NULL, sizeof(struct jm_thread_filter), PROT_READ, MAP_SHARED,
			bpf_map__fd(p->proc->maps.thread_filter), 0);
	if (tf == MAP_FAILED) {
		err = -errno;
		jm_err("cannot map the thread filter: %s", strerror(-err));
		goto fail;
	}
	p->tfilter = tf;
	/* 4. attach */
	err = process_bpf__attach(p->proc);
	if (!err)
		err = io_bpf__attach(p->io);
	if (err) {
		jm_err("cannot attach tracepoints: %s", strerror(-err));
		goto fail;
	}

	p->handlers[0] = (struct jm_rb_handler){ on_event, ctx };
	p->handlers[1] = (struct jm_rb_handler){ on_payload, ctx };
	/* The io ring is drained on its own (see jm_probes_drain_io); the
	 * main loop waits on the events ring and the io ring's bell. */
	p->rb = ring_buffer__new(bpf_map__fd(p->proc->maps.events), rb_event, &p->handlers[0], NULL);
	p->io_bell = ring_buffer__new(bpf_map__fd(p->io->maps.io_bell), bell_event, NULL, NULL);
	if (!p->rb || !p->io_bell) {
		err = -errno;
		jm_err("cannot set up ring buffers: %s", strerror(-err));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	jm_probes_close(p);
	return err ? err : -EINVAL;
}

void jm_probes_close(struct jm_probes *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	ring_buffer__free(p->io_bell);
	if (p->xr.ring)
		munmap(p->xr.ring, sizeof(struct jm_xring));
	if (p->members)
		munmap(p->members, (size_t)JM_MEMBER_WORDS * sizeof(uint64_t));
	if (p->tfilter)
		munmap((void *)p->tfilter, sizeof(struct jm_thread_filter));
	io_bpf__destroy(p->io);
	process_bpf__destroy(p->proc);
	free(p->percpu);
	free(p);
}

int jm_probes_poll(struct jm_probes *p, int timeout_ms)
{
	(void)timeout_ms;
	/* Lifecycle events first, then the io ring: callers rely on it. */
	int n = jm_probes_consume_events(p);
	int m = jm_probes_drain_io(p);
	return n < 0 ? n : m < 0 ? m : n + m;
}

int jm_probes_consume_events(struct jm_probes *p)
{
	return ring_buffer__consume(p->rb);
}

int jm_probes_drain_io(struct jm_probes *p)
{
	/* the bell says only "drain now": its state matters less than the ring */
	int bell = ring_buffer__consume(p->io_bell);
	uint64_t corrupt = p->xr.corrupt;
	int n = jm_xring_drain(&p->xr, xr_event, &p->handlers[1]);
	if (p->xr.corrupt != corrupt)
		jm_err("io ring: a record with an impossible length; %" PRIu64
		       " bytes of records skipped", p->xr.skipped);
	return n < 0 ? n : bell < 0 ? bell : n;
}

void jm_probes_epoll_fds(struct jm_probes *p, int fds[2])
{
	fds[0] = ring_buffer__epoll_fd(p->rb);
	fds[1] = ring_buffer__epoll_fd(p->io_bell);
}

static void member_set(struct jm_probes *p, uint32_t tgid, bool on)
{
	if (tgid >= JM_PID_LIMIT)
		return;
	uint64_t bit = 1ull << (tgid & 63);
	if (on)
		__atomic_fetch_or(&p->members[tgid >> 6], bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&p->members[tgid >> 6], ~bit, __ATOMIC_SEQ_CST);
}

static bool member_test(const struct jm_probes *p, uint32_t tgid)
{
	return tgid < JM_PID_LIMIT &&
	       (__atomic_load_n(&p->members[tgid >> 6], __ATOMIC_SEQ_CST) & (1ull << (tgid & 63)));
}

/* User space tracks processes in procs_spill only: claiming a procs slot
 * takes a compare-and-swap on one CPU's copy that only the programs can
 * do (see jm_proc_claim in bpf/maps.bpf.h). */
int jm_probes_track(struct jm_probes *p, uint32_t tgid, int32_t threads)
{
	/* JM_LIFE_USER: the thread count is what /proc said a moment ago, or
	 * a guess; the exit program decides by the thread group instead. */
	struct jm_proc_life life = { .threads = threads > 0 ? threads : 1, .flags = JM_LIFE_USER };

	if (member_test(p, tgid))
		return 0;               /* the kernel tracks it already (env or fork) */
	memset(p->percpu, 0, p->ncpus * sizeof(*p->percpu));
	if (bpf_map_update_elem(bpf_map__fd(p->proc->maps.procs_spill), &tgid, p->percpu,
				BPF_NOEXIST)) {
		if (errno == EEXIST)
			return 0;
		return -errno;
	}
	if (bpf_map_update_elem(bpf_map__fd(p->proc->maps.lives), &tgid, &life, BPF_NOEXIST) &&
	    errno != EEXIST) {
		int e = -errno;
		bpf_map_delete_elem(bpf_map__fd(p->proc->maps.procs_spill), &tgid);
		return e;
	}
	member_set(p, tgid, true);
	/* Its threads, into the thread filter; one made from here on goes in
	 * at creation (jm_newtask).  A failure here is mended, and counted,
	 * by the next sample (JM_STAT_TFILTER_MISS). */
	int err = mark_threads(p, tgid);
	if (err && err != -ESRCH && err != -ENOENT)
		jm_warn("process %u: cannot add its threads to the thread filter: %s",
			tgid, strerror(-err));
	return 0;
}

uint64_t jm_probes_tfilter_bits(const struct jm_probes *p)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < JM_TF_WORDS; i++)
		n += (uint64_t)__builtin_popcountll(__atomic_load_n(&p->tfilter->bits[i], __ATOMIC_RELAXED));
	return n;
}

bool jm_probes_regs_offset_retired(const struct jm_probes *p)
{
	return __atomic_load_n(&p->tfilter->regs_off, __ATOMIC_RELAXED) == JM_TF_REGS_BAD;
}

/* A procs slot the process holds stays its own until it exits (the exit
 * program frees it): rewriting per-CPU copies from here could race with a
 * claim by another process. */
void jm_probes_untrack(struct jm_probes *p, uint32_t tgid)
{
	member_set(p, tgid, false);
	bpf_map_delete_elem(bpf_map__fd(p->proc->maps.procs_spill), &tgid);
	bpf_map_delete_elem(bpf_map__fd(p->proc->maps.lives), &tgid);
}

int jm_probes_read_sock(struct jm_probes *p, uint32_t tgid, struct jm_sock_io *io)
{
	uint32_t slot = tgid & (JM_PROC_SLOTS - 1);

	memset(io, 0, sizeof(*io));
	if (bpf_map_lookup_elem(bpf_map__fd(p->proc->maps.procs), &slot, p->percpu))
		return -errno;
	if (p->percpu[0].owner != tgid &&
	    bpf_map_lookup_elem(bpf_map__fd(p->proc->maps.procs_spill), &tgid, p->percpu))
		return -errno;
	for (int i = 0; i < p->ncpus; i++) {
		io->rx_bytes += p->percpu[i].sock.rx_bytes;
		io->tx_bytes += p->percpu[i].sock.tx_bytes;
		io->vfs_rx_bytes += p->percpu[i].sock.vfs_rx_bytes;
		io->vfs_tx_bytes += p->percpu[i].sock.vfs_tx_bytes;
	}
	return 0;
}

int jm_probes_read_life(struct jm_probes *p, uint32_t tgid, uint64_t *rchar, uint64_t *wchar)
{
	struct jm_proc_life pl;

	*rchar = *wchar = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(p->proc->maps.lives), &tgid, &pl))
		return -errno;
	*rchar = pl.rchar;
	*wchar = pl.wchar;
	return 0;
}

int jm_probes_sample(struct jm_probes *p, jm_sample_fn fn, void *ctx)
{
	/* A multiple of the record size: seq_file hands out whole records,
	 * and a read never ends inside one. */
	struct jm_sample recs[128];
	int rc = 0, fd;

	if (!p->proc->links.jm_sample)
		return -ENOTSUP;
	fd = bpf_iter_create(bpf_link__fd(p->proc->links.jm_sample));
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, recs, sizeof(recs));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (n % sizeof(recs[0])) {
			rc = -EPROTO;       /* not whole records: ABI mismatch */
			goto out;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(recs[0]); i++)
			if (fn(ctx, &recs[i]))
				goto out;
	}
out:
	close(fd);
	return rc;
}

int jm_probes_conn_set(struct jm_probes *p, uint64_t cookie, uint32_t state)
{
	/* The kernel takes the answer over at the socket's next operation
	 * and deletes it. */
	if (bpf_map_update_elem(bpf_map__fd(p->io->maps.verdicts), &cookie, &state, BPF_ANY))
		return -errno;
	return 0;
}

void jm_probes_conn_forget(struct jm_probes *p, uint64_t cookie)
{
	bpf_map_delete_elem(bpf_map__fd(p->io->maps.verdicts), &cookie);
}

int jm_probes_stats(struct jm_probes *p, uint64_t out[JM_STAT_MAX])
{
	uint64_t *vals = calloc(p->ncpus, sizeof(uint64_t));
	int err = 0;

	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < JM_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(p->proc->maps.stats), &i, vals)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < p->ncpus; c++)
			out[i] += vals[c];
	}
	free(vals);
	/* records lost in the reader count with those lost in the kernel */
	out[JM_STAT_PAYLOADS_DROPPED] += p->xr.corrupt;
	return err;
}

int jm_probes_ncpus(struct jm_probes *p)
{
	return p->ncpus;
}
