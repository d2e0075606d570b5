/* Strict UTF-8: sequence lengths at every boundary RFC 3629 draws, whole
 * strings, and the '?' repair the exporters rely on. */
#include <string.h>

#include "harness.h"
#include "utf8.h"

static size_t seq(const char *s, size_t n)
{
	return jm_utf8_seq_len((const unsigned char *)s, n);
}

int main(void)
{
	/* one sequence per length, and the edges of each range */
	CHECK_INT("ascii", seq("A", 1), 1);
	CHECK_INT("nul is ascii", seq("\0", 1), 1);
	CHECK_INT("2-byte min U+0080", seq("\xC2\x80", 2), 2);
	CHECK_INT("2-byte max U+07FF", seq("\xDF\xBF", 2), 2);
	CHECK_INT("3-byte min U+0800", seq("\xE0\xA0\x80", 3), 3);
	CHECK_INT("3-byte U+D7FF", seq("\xED\x9F\xBF", 3), 3);
	CHECK_INT("3-byte U+E000", seq("\xEE\x80\x80", 3), 3);
	CHECK_INT("3-byte max U+FFFF", seq("\xEF\xBF\xBF", 3), 3);
	CHECK_INT("4-byte min U+10000", seq("\xF0\x90\x80\x80", 4), 4);
	CHECK_INT("4-byte max U+10FFFF", seq("\xF4\x8F\xBF\xBF", 4), 4);

	/* what must be refused */
	CHECK_INT("lone continuation", seq("\x80", 1), 0);
	CHECK_INT("C0 overlong", seq("\xC0\xAF", 2), 0);
	CHECK_INT("C1 overlong", seq("\xC1\xBF", 2), 0);
	CHECK_INT("E0 overlong", seq("\xE0\x9F\xBF", 3), 0);
	CHECK_INT("surrogate D800", seq("\xED\xA0\x80", 3), 0);
	CHECK_INT("surrogate DFFF", seq("\xED\xBF\xBF", 3), 0);
	CHECK_INT("F0 overlong", seq("\xF0\x8F\xBF\xBF", 4), 0);
	CHECK_INT("above U+10FFFF", seq("\xF4\x90\x80\x80", 4), 0);
	CHECK_INT("F5 lead", seq("\xF5\x80\x80\x80", 4), 0);
	CHECK_INT("FF lead", seq("\xFF", 1), 0);
	CHECK_INT("bad third byte", seq("\xE2\x82\x41", 3), 0);
	CHECK_INT("bad fourth byte", seq("\xF0\x9F\x98\x41", 4), 0);
	/* n bounds the read: a sequence cut by the end is not well-formed */
	CHECK_INT("truncated 2-byte", seq("\xC3\xA9", 1), 0);
	CHECK_INT("truncated 4-byte", seq("\xF0\x9F\x98\x80", 3), 0);

	CHECK("valid empty", jm_utf8_valid("", 0));
	CHECK("valid mixed", jm_utf8_valid("caf\xC3\xA9 \xF0\x9F\x98\x80", 10));
	CHECK("invalid inside", !jm_utf8_valid("ab\xFF" "cd", 5));
	CHECK("invalid cut at n", !jm_utf8_valid("ab\xC3\xA9", 3));
	CHECK("valid up to n only", jm_utf8_valid("ab\xFF", 2));

	char out[32];
	memset(out, 'Z', sizeof(out));
	jm_utf8_sanitize(out, "caf\xC3\xA9", 5);
	CHECK_STR("sanitize keeps valid", out, "caf\xC3\xA9");
	memset(out, 'Z', sizeof(out));
	jm_utf8_sanitize(out, "a\xFF" "b\xED\xA0\x80" "c", 7);
	CHECK_STR("sanitize one ? per bad byte", out, "a?b???c");
	memset(out, 'Z', sizeof(out));
	jm_utf8_sanitize(out, "x\xC3\xA9", 2);
	CHECK_STR("sanitize cut sequence", out, "x?");
	CHECK_INT("sanitize terminates at n", out[2], 0);
	memset(out, 'Z', sizeof(out));
	jm_utf8_sanitize(out, "", 0);
	CHECK_STR("sanitize empty", out, "");
	TEST_EXIT();
}
