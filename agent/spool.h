/* Durable, bounded on-disk spool of rendered batches.
 *
 * Every batch is written here BEFORE anyone tries to send it, so a collector
 * outage, an agent restart or a crash loses nothing unless the spool is full.
 *
 * Layout of the spool directory (created 0700 when missing):
 *   <20-digit seq>.batch       one pending batch, exactly the bytes given to put
 *   <20-digit seq>.batch.tmp   being written; removed on open (never complete)
 *   seq                        last sequence number handed out, decimal
 *   lock                       flock()ed while open: one agent per spool
 *   rejected/<seq>.batch       batches the collector refused (4xx), kept for
 *                              inspection: at most JM_SPOOL_REJECTED_MAX files
 *                              and max_bytes in total, oldest deleted first
 *
 * Durability: put writes the .tmp file, fsyncs it, renames it to .batch and
 * fsyncs the directory; next_seq fsyncs the seq file (via tmp + rename) before
 * returning the number.  Hence a seq is never handed out twice per spool, even
 * across crashes: on open, numbering continues after the highest of the seq
 * file, every spooled batch and every rejected batch.
 *
 * Bound: after a put, while the pending batches total more than max_bytes,
 * the oldest are deleted.  Each deleted batch counts in jm_spool_dropped()
 * (the agent reports it as loss.spool_dropped_batches) and each put that drops
 * logs one line.  The batch the shipper is sending (jm_spool_claim_oldest) is
 * deleted too, but counted only if that send does not deliver it: not when
 * jm_spool_remove() follows (a 2xx, a renumbering that stored it under a
 * new seq, or a 4xx: the shipper counts that one as rejected), but when
 * jm_spool_release() does.  So the count is the batches
 * the collector never got from this spool, each once.  A batch larger than max_bytes on its own is not stored
 * (counted as dropped, -EFBIG).  Batches found on open beyond the bound (say
 * max_bytes was lowered) are dropped the same way.
 *
 * Threads: every function may be called from any thread (the agent's main
 * loop puts, the shipper thread reads/removes); an internal mutex serialises
 * the index, and file I/O happens outside it.  A batch can be dropped for
 * space while the shipper is sending it; remove then finds it gone, which is
 * not an error (and the batch is not counted as dropped, see Bound).
 */
#ifndef JM_SPOOL_H
#define JM_SPOOL_H
#include <stddef.h>
#include <stdint.h>

#define JM_SPOOL_REJECTED_MAX 64

struct jm_spool;

/* Open (creating when needed) the spool in dir, replaying existing .batch
 * files in seq order and removing stale .tmp files.  Returns 0 or -errno:
 * -EBUSY when another process holds the spool, -EBADMSG when the seq file is
 * corrupt (refusing is the only way not to reuse sequence numbers; the log
 * line names the file), -EINVAL for max_bytes == 0. */
int jm_spool_open(struct jm_spool **s, const char *dir, uint64_t max_bytes)
	__attribute__((warn_unused_result));

/* Release memory and the lock; spooled files stay.  NULL is fine. */
void jm_spool_close(struct jm_spool *s);

/* The next sequence number (1 for a brand-new spool), persisted before it is
 * returned.  On error nothing is consumed and -errno is returned. */
int jm_spool_next_seq(struct jm_spool *s, uint64_t *seq)
	__attribute__((warn_unused_result));

/* Make sure no seq at or below floor is handed out from now on: when the
 * last seq handed out is below floor, persist floor as it (durable like
 * jm_spool_next_seq) so the next one is floor + 1.  Never moves backwards: a
 * floor at or below the current last seq changes nothing.  The shipper calls
 * it when the collector reports a seq conflict (409 with stored_max_seq):
 * the numbering restarted below what the collector has stored, and every
 * number up to its maximum would conflict again.  Returns 0 or -errno
 * (nothing changed then). */
int jm_spool_advance_seq(struct jm_spool *s, uint64_t floor)
	__attribute__((warn_unused_result));

/* Durably store len bytes as batch seq (replacing a batch with the same seq),
 * then enforce the bound.  seq must come from jm_spool_next_seq(), which is
 * what keeps numbering monotonic once batches are sent and deleted.
 * Returns 0 or -errno (-EFBIG: len > max_bytes). */
int jm_spool_put(struct jm_spool *s, uint64_t seq, const void *data, size_t len)
	__attribute__((warn_unused_result));

/* Read the oldest pending batch into a malloc'd buffer (free() it).
 * Returns 0, -ENOENT when the spool is empty, or another -errno. */
int jm_spool_oldest(struct jm_spool *s, uint64_t *seq, uint8_t **data, size_t *len)
	__attribute__((warn_unused_result));

/* The same for the first pending batch after seq `after` (in seq order):
 * -ENOENT when there is none. */
int jm_spool_next_after(struct jm_spool *s, uint64_t after, uint64_t *seq, uint8_t **data,
			size_t *len)
	__attribute__((warn_unused_result));

/* jm_spool_oldest for sending it: the batch is the one being sent (one at a
 * time; a new claim releases the previous one) until jm_spool_remove() or
 * jm_spool_release() of its seq.  Deleted for space meanwhile, it counts as
 * dropped only on release (see Bound). */
int jm_spool_claim_oldest(struct jm_spool *s, uint64_t *seq, uint8_t **data, size_t *len)
	__attribute__((warn_unused_result));

/* The send of claimed batch seq is over, however it ended: when it was
 * deleted for space meanwhile and not removed since, it is lost and counts
 * in jm_spool_dropped() now.  Another seq than the claimed one: no-op. */
void jm_spool_release(struct jm_spool *s, uint64_t seq);

/* Delete batch seq (after the collector acknowledged it).  A batch that is
 * already gone is not an error.  Returns 0 or -errno. */
int jm_spool_remove(struct jm_spool *s, uint64_t seq)
	__attribute__((warn_unused_result));

/* Move batch seq to rejected/ (the collector refused it) and trim rejected/
 * to its bound.  Returns 0, -ENOENT when seq is not pending, or -errno. */
int jm_spool_reject(struct jm_spool *s, uint64_t seq)
	__attribute__((warn_unused_result));

/* Batches deleted for space since open. */
uint64_t jm_spool_dropped(struct jm_spool *s);

/* Pending batches and their total size. */
void jm_spool_depth(struct jm_spool *s, uint64_t *count, uint64_t *bytes);

/* The directory this spool lives in. */
const char *jm_spool_dir(const struct jm_spool *s);
#endif
