/* `jobmeter-collector gen-batch`: write a synthetic, deterministic Batch
 * protobuf to stdout, for tests and benchmarks (developer tool).  Every
 * figure comes from the command line so a test can compute the expected
 * report by hand; deliberately invalid batches (bad schema version, huge
 * strings, NaN counters) can be produced too, because the point is to
 * exercise the collector's validation. */
#ifndef JM_COLL_GEN_H
#define JM_COLL_GEN_H
#include <stdio.h>

/* argv[0] is "gen-batch".  Returns a process exit code. */
int jm_coll_gen_main(int argc, char **argv);
void jm_coll_gen_usage(FILE *out);
#endif
