#include "caps.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const struct {
	int cap;
	const char *name;
	const char *why;
} needed[] = {
	{ CAP_BPF, "CAP_BPF", "load eBPF programs and maps" },
	{ CAP_PERFMON, "CAP_PERFMON", "attach tracepoints and read kernel memory from eBPF" },
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH",
	  "read /proc/PID/environ and cmdline of other users' job processes" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE",
	  "read /proc/PID/exe of other users' processes for executable rules" },
};

int jm_caps_check(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	int missing = 0;

	if (syscall(SYS_capget, &hdr, data)) {
		jm_warn("cannot read capabilities; continuing (failures will be reported as they come)");
		return 0;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		int c = needed[i].cap;
		if (data[c / 32].effective & (1u << (c % 32)))
			continue;
		/* CAP_SYS_ADMIN is the pre-5.8 superset of CAP_BPF and CAP_PERFMON. */
		if ((c == CAP_BPF || c == CAP_PERFMON) && (data[0].effective & (1u << CAP_SYS_ADMIN)))
			continue;
		jm_err("missing capability %s: needed to %s", needed[i].name, needed[i].why);
		missing++;
	}
	return missing ? -1 : 0;
}
