/* Kernel and architecture differences, in one place.
 *
 * - Syscall numbers and argument registers are per-architecture; jobmeter
 *   ships x86_64 today (arm64 needs only a second table here).
 * - signal_struct.live is atomic_t on every kernel we support; the
 *   "group dead" test reads it after do_exit() decremented it. */
#ifndef JM_CORE_FIXES_BPF_H
#define JM_CORE_FIXES_BPF_H

#if defined(__TARGET_ARCH_x86)
#define JM_NR_read             0
#define JM_NR_write            1
#define JM_NR_open             2
#define JM_NR_close            3
#define JM_NR_pread64         17
#define JM_NR_pwrite64        18
#define JM_NR_readv           19
#define JM_NR_writev          20
#define JM_NR_sendfile        40
#define JM_NR_connect         42
#define JM_NR_sendto          44
#define JM_NR_recvfrom        45
#define JM_NR_sendmsg         46
#define JM_NR_recvmsg         47
#define JM_NR_rename          82
#define JM_NR_creat           85
#define JM_NR_openat         257
#define JM_NR_renameat       264
#define JM_NR_splice         275
#define JM_NR_preadv         295
#define JM_NR_pwritev        296
#define JM_NR_renameat2      316
#define JM_NR_copy_file_range 326
#define JM_NR_preadv2        327
#define JM_NR_pwritev2       328
#define JM_NR_openat2        437
/* regs is a BTF pointer in tp_btf programs: direct (CO-RE relocated) loads
 * are cheaper than bpf_probe_read_kernel() on the every-syscall path. */
#define JM_SYSCALL_NR(regs)   ((long)(regs)->orig_ax)
#define JM_ARG1(regs)         ((regs)->di)
#define JM_ARG2(regs)         ((regs)->si)
#define JM_ARG3(regs)         ((regs)->dx)
#define JM_ARG4(regs)         ((regs)->r10)
#define JM_ARG5(regs)         ((regs)->r8)
#else
#error "jobmeter: syscall table for this architecture is not written yet (see core_fixes.bpf.h)"
#endif

/* True when the exiting task was the last live thread of its group. */
static __always_inline bool jm_group_dead(struct task_struct *t)
{
	return BPF_CORE_READ(t, signal, live.counter) == 0;
}

#endif
