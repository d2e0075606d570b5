// fuzz-sources: tools/collector/ingest.c tools/collector/body.c build/proto/jobmeter.pb-c.c
/* libFuzzer target: the collector's whole pure input path.  The first byte
 * picks identity or gzip; the rest goes through the bounded body sink in
 * pieces (sizes taken from the input) and then decode + validate.  Limits
 * are the collector's defaults scaled down so bombs are found quickly. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tools/collector/body.h"
#include "tools/collector/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jm_coll_body body;
	struct jm_coll_decoded dec;
	char why[256];
	size_t off = 1, piece;
	bool gzip;

	if (size < 1)
		return 0;
	gzip = data[0] & 1;
	piece = 1 + (data[0] >> 1);           /* 1..128 byte pieces */
	if (jm_coll_body_init(&body, gzip, 1u << 20, 4u << 20) != JM_BODY_OK)
		goto out;
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;

		if (jm_coll_body_feed(&body, data + off, n) != JM_BODY_OK)
			goto out;
		off += n;
	}
	if (jm_coll_body_finish(&body) != JM_BODY_OK)
		goto out;
	if (jm_coll_decode_batch(body.buf, body.len, &dec, why, sizeof(why)) == JM_DECODE_OK) {
		/* A valid batch must really satisfy the contract. */
		if (jm_coll_validate_batch(dec.batch, why, sizeof(why)) != 0)
			__builtin_trap();
		jm_coll_decoded_free(&dec);
	} else if (dec.batch || why[0] == '\0') {
		__builtin_trap();   /* failures carry a reason and no batch */
	}
out:
	jm_coll_body_free(&body);
	return 0;
}
