/* Compile-time guard of the kernel <-> user ABI (bpf/process.h, bpf/io.h,
 * bpf/xring.h): the BPF programs are compiled by clang for the BPF target,
 * the agent by gcc for the host; these asserts make any layout disagreement
 * a build error. */
#include <stddef.h>
#include "bpf/process.h"
#include "bpf/io.h"
#include "bpf/xring.h"

_Static_assert(sizeof(struct jm_ev_hdr) == 16, "jm_ev_hdr");
_Static_assert(sizeof(struct jm_proc_io) == 32, "jm_proc_io");
_Static_assert(sizeof(struct jm_proc_cpu) == 40, "jm_proc_cpu");
_Static_assert(offsetof(struct jm_proc_cpu, owner) == 32, "jm_proc_cpu.owner");
_Static_assert(sizeof(struct jm_sock_io) == 32, "jm_sock_io");
_Static_assert(sizeof(struct jm_sample) == 80, "jm_sample");
_Static_assert(sizeof(struct jm_thread_filter) == 64 + (1u << JM_TF_LOG2) / 8, "jm_thread_filter");
_Static_assert(offsetof(struct jm_thread_filter, regs_off) == 8, "jm_thread_filter.regs_off");
_Static_assert(offsetof(struct jm_thread_filter, bits) == 64, "jm_thread_filter.bits");
_Static_assert(offsetof(struct jm_sample, rchar) == 16, "sample.rchar");
_Static_assert(offsetof(struct jm_sample, sock) == 32, "sample.sock");
_Static_assert(offsetof(struct jm_sample, tgid) == 64, "sample.tgid");
_Static_assert(offsetof(struct jm_sample, flags) == 72, "sample.flags");
_Static_assert(sizeof(struct jm_proc_life) == 40, "jm_proc_life");
_Static_assert(offsetof(struct jm_proc_life, image_peak) == 24, "jm_proc_life.image_peak");
_Static_assert(offsetof(struct jm_proc_life, threads) == 32, "jm_proc_life.threads");
_Static_assert(offsetof(struct jm_ev_exec, cgroup_id) == 16, "exec.cgroup_id");
_Static_assert(offsetof(struct jm_ev_exec, cpu_ns) == 24, "exec.cpu_ns");
_Static_assert(offsetof(struct jm_ev_exec, maxrss_bytes) == 32, "exec.maxrss_bytes");
_Static_assert(offsetof(struct jm_ev_exec, image_peak_bytes) == 40, "exec.image_peak_bytes");
_Static_assert(offsetof(struct jm_ev_exec, io) == 48, "exec.io");
_Static_assert(offsetof(struct jm_ev_exec, ppid) == 80, "exec.ppid");
_Static_assert(offsetof(struct jm_ev_exec, comm) == 96, "exec.comm");
_Static_assert(offsetof(struct jm_ev_exec, filename) == 112, "exec.filename");
_Static_assert(sizeof(struct jm_ev_exec) == 112 + JM_PATH_LEN + JM_ARGS_LEN + JM_ENV_LEN + JM_ENV_STR_MAX, "exec");
_Static_assert(sizeof(struct jm_ev_fork) == 24, "fork");
_Static_assert(offsetof(struct jm_ev_exit, io) == 32, "exit.io");
_Static_assert(offsetof(struct jm_ev_exit, mm_peak_bytes) == 64, "exit.mm_peak_bytes");
_Static_assert(offsetof(struct jm_ev_exit, ppid) == 72, "exit.ppid");
_Static_assert(sizeof(struct jm_ev_exit) == 88, "exit");
_Static_assert(sizeof(struct jm_ev_reap) == 24, "reap");
_Static_assert(offsetof(struct jm_ev_reap, cpu_ns) == 16, "reap.cpu_ns");
_Static_assert(sizeof(struct jm_ev_connect) == 32 + JM_SOCKADDR_LEN, "connect");
_Static_assert(sizeof(struct jm_ev_close) == 32, "close");
_Static_assert(offsetof(struct jm_ev_connect, cookie) == 16, "connect.cookie");
_Static_assert(sizeof(struct jm_conn_val) == 24, "conn val");
_Static_assert(offsetof(struct jm_conn_val, state) == 16, "conn val state");
_Static_assert(offsetof(struct jm_conn_val, flags) == 20, "conn val flags");
_Static_assert(sizeof(struct jm_ev_open) == 32 + JM_PATH_LEN, "open");
_Static_assert(sizeof(struct jm_ev_rename) == 24 + 2 * JM_PATH_LEN, "rename");
_Static_assert(sizeof(struct jm_payload_hdr) == 40, "payload hdr");
_Static_assert(offsetof(struct jm_payload_hdr, cookie) == 16, "payload cookie");
_Static_assert(sizeof(struct jm_xring_rec) == JM_XRING_ALIGN, "xring record header");
_Static_assert(offsetof(struct jm_xring_rec, len) == 8, "xring record len");
_Static_assert(offsetof(struct jm_xring, cons) == 128, "xring cons: 128 bytes from prod");
_Static_assert(offsetof(struct jm_xring, data) == 4096, "xring data");
_Static_assert((JM_XRING_SIZE & (JM_XRING_SIZE - 1)) == 0, "xring size: a power of two");
/* every io record fits the slack, so a record past the end stays whole */
_Static_assert(sizeof(struct jm_xring_rec) + sizeof(struct jm_payload_hdr) + JM_CAP_HEAD_MAX +
	       JM_CAP_TAIL_MAX <= JM_XRING_SLACK, "xring slack: payload");
_Static_assert(sizeof(struct jm_xring_rec) + sizeof(struct jm_ev_rename) <= JM_XRING_SLACK,
	       "xring slack: rename");
_Static_assert(sizeof(struct jm_xring_rec) + sizeof(struct jm_ev_open) <= JM_XRING_SLACK,
	       "xring slack: open");
_Static_assert(sizeof(struct jm_xring_rec) + sizeof(struct jm_ev_connect) <= JM_XRING_SLACK,
	       "xring slack: connect");

/* Keeps the translation unit non-empty under -Wpedantic. */
int jm_abi_version(void);
int jm_abi_version(void) { return 1; }
