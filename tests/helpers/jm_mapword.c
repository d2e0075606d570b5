/* jm_mapword: read or write one 64-bit word of a running agent's mmapable
 * BPF map, for the integration tests (what bpftool cannot do for a single
 * word of a 128 KiB value).
 *
 *   jm_mapword MAP_ID BYTE_OFFSET           prints the word, in decimal
 *   jm_mapword MAP_ID BYTE_OFFSET VALUE     writes it (decimal, or 0x hex)
 *
 * The map must be BPF_F_MMAPABLE; the offset is into its data (key 0 of an
 * array first) and must be 8-byte aligned.  Exit 0, or 2 on usage or
 * system errors.
 *
 * Helpers link only libc: the bpf(2) call is made directly. */
#include <errno.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t id, off, val = 0;
	union bpf_attr attr;
	int fd, rc = 2;

	if ((argc != 3 && argc != 4) || parse_u64(argv[1], &id) || parse_u64(argv[2], &off) ||
	    (argc == 4 && parse_u64(argv[3], &val)) || id > UINT32_MAX || off % 8) {
		fprintf(stderr, "usage: jm_mapword MAP_ID BYTE_OFFSET [VALUE]\n");
		return 2;
	}
	memset(&attr, 0, sizeof(attr));
	attr.map_id = (uint32_t)id;
	fd = (int)syscall(SYS_bpf, BPF_MAP_GET_FD_BY_ID, &attr, sizeof(attr));
	if (fd < 0) {
		fprintf(stderr, "jm_mapword: map %" PRIu64 ": %s\n", id, strerror(errno));
		return 2;
	}
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)(off / (uint64_t)page + 1) * (size_t)page;
	void *m = mmap(NULL, len, PROT_READ | (argc == 4 ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "jm_mapword: map %" PRIu64 ": mmap: %s\n", id, strerror(errno));
		goto out;
	}
	volatile uint64_t *w = (volatile uint64_t *)((char *)m + off);
	if (argc == 4)
		__atomic_store_n(w, val, __ATOMIC_SEQ_CST);
	else
		printf("%" PRIu64 "\n", __atomic_load_n(w, __ATOMIC_SEQ_CST));
	munmap(m, len);
	rc = 0;
out:
	close(fd);
	return rc;
}
