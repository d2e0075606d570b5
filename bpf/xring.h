/* Kernel <-> user ABI of the io ring (bpf/xring.bpf.h writes it,
 * agent/xring.c reads it): a multi-producer, single-consumer byte ring in
 * one BPF_F_MMAPABLE array element, shared by the programs and the agent.
 *
 * Why not BPF_MAP_TYPE_RINGBUF: its reserve and commit are two helper
 * calls around an IRQ-saving spinlock, ~70 ns more per record than this
 * ring in pinned pgbench (bpf_stats program time), and its reserve takes a
 * constant size only: a payload record had to be one of several size
 * classes.  Here a record is the size of what it holds.
 *
 * A producer reserves with one compare-and-swap on `prod` and publishes by
 * storing the record's own position, inverted, into its header; the
 * reader takes records in position order while the header says so, and
 * zeroes each one before giving its room back.  So the word at a position
 * not yet published is zero (the ring starts zeroed; inverted, because
 * position 0 is a real one) and never a forged commit copied there by an
 * earlier record's body.
 *
 * Positions grow without wrapping (64 bits); a record starts at offset
 * pos % JM_XRING_SIZE of `data`.  A record that runs past the end goes on
 * into the slack behind it, so every record is contiguous in memory and
 * no padding records exist.  Same layout rules as process.h. */
#ifndef JM_BPF_XRING_H
#define JM_BPF_XRING_H
#include <linux/types.h>

#define JM_XRING_SIZE   (8u << 20)    /* power of two */
#define JM_XRING_SLACK  8192          /* >= the largest record */
#define JM_XRING_ALIGN  16            /* record lengths are multiples */

struct jm_xring_rec {
	__u64 commit;                 /* ~position once the record is whole */
	__u32 len;                    /* bytes, this header and padding included */
	__u32 pad;
};

struct jm_xring {
	__u64 prod;                   /* next position to reserve (producers) */
	__u8  pad0[120];              /* not in the adjacent-line prefetch pair */
	__u64 cons;                   /* first position not yet read (the agent) */
	__u8  pad1[4096 - 136];
	__u8  data[JM_XRING_SIZE + JM_XRING_SLACK];
};

#endif
