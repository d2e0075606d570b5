/* jm_idcheck: run the identity parsers on a real cgroup path, for the
 * integration tests.
 *
 *   jm_idcheck cgroup PATH [LOG_ROOT]
 *   jm_idcheck pid PID [LOG_ROOT]      (reads the "0::" line of /proc/PID/cgroup)
 *
 * Prints "key=value" lines: cgroup=, then for a kubelet path pod_uid=,
 * container_id=, runtime=, qos=, driver= (and with LOG_ROOT resolve=, ns=,
 * pod=, container=, restarts=, job=, kind=); for a systemd path unit=,
 * user_unit= and systemd_job= (the job a catch-all "*" rule gives, which user
 * units never get).  Exit 0 when some identity was found, 1 when none, 2 on
 * usage or read errors.
 *
 * Helpers link only libc/libpthread/libm, so the modules are compiled in. */
#include "../../agent/identity/env.c"
#include "../../agent/identity/k8s.c"
#include "../../agent/identity/systemd.c"
#include "../../agent/rules.c"

#include <stdlib.h>

/* The cgroup v2 line "0::<path>" of /proc/PID/cgroup into buf. */
static int idc_read_pid_cgroup(const char *pid, char *buf, size_t sz)
{
	char path[64], line[4096 + 16];
	FILE *f;
	int ret = -1;

	if (snprintf(path, sizeof(path), "/proc/%s/cgroup", pid) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line + 3) >= sz)
			break;
		strcpy(buf, line + 3);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

int main(int argc, char **argv)
{
	char cg[4096];
	const char *log_root;
	int found = 0;

	if (argc < 3 || argc > 4 || (strcmp(argv[1], "cgroup") && strcmp(argv[1], "pid"))) {
		fprintf(stderr, "usage: %s cgroup PATH [LOG_ROOT] | pid PID [LOG_ROOT]\n", argv[0]);
		return 2;
	}
	log_root = argc == 4 ? argv[3] : NULL;
	if (strcmp(argv[1], "pid") == 0) {
		if (idc_read_pid_cgroup(argv[2], cg, sizeof(cg)) != 0) {
			fprintf(stderr, "jm_idcheck: no cgroup v2 line for pid %s\n", argv[2]);
			return 2;
		}
	} else {
		if (strlen(argv[2]) >= sizeof(cg))
			return 2;
		strcpy(cg, argv[2]);
	}
	printf("cgroup=%s\n", cg);

	struct jm_k8s_ids ids;
	if (jm_k8s_parse_cgroup(cg, &ids)) {
		found = 1;
		printf("pod_uid=%s\ncontainer_id=%s\nruntime=%s\nqos=%s\ndriver=%s\n", ids.pod_uid,
		       ids.container_id, jm_k8s_runtime_name(ids.runtime), jm_k8s_qos_name(ids.qos),
		       ids.driver == JM_K8S_DRIVER_SYSTEMD ? "systemd" : "cgroupfs");
		if (log_root) {
			struct jm_k8s_names nm;
			int r = jm_k8s_resolve(log_root, &ids, &nm);
			printf("resolve=%d\n", r);
			if (r >= JM_K8S_RESOLVE_POD) {
				char job[128], kind[16];
				jm_k8s_job_name(nm.ns, nm.pod, job, sizeof(job), kind, sizeof(kind));
				printf("ns=%s\npod=%s\ncontainer=%s\nrestarts=%d\njob=%s\nkind=%s\n",
				       nm.ns, nm.pod, nm.container, nm.restarts, job, kind);
			}
		}
	}

	char unit[256];
	bool user = false;
	if (jm_systemd_unit_from_cgroup(cg, unit, sizeof(unit), &user)) {
		/* Static storage: struct jm_config is large for a stack. */
		static struct jm_config cfg;
		char job[128];
		found = 1;
		cfg.n_systemd = 1;
		strcpy(cfg.systemd[0].unit_glob, "*");
		printf("unit=%s\nuser_unit=%d\n", unit, user ? 1 : 0);
		if (jm_systemd_match(&cfg, unit, user, job, sizeof(job)))
			printf("systemd_job=%s\n", job);
	}
	return found ? 0 : 1;
}
