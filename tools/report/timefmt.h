/* Times and durations on the report's command line and in its output.
 *   durations: "30m", "6h", "7d", "2w", "90s", "500ms", "1h30m" (units ms s m
 *              h d w, summed; a bare number is seconds)
 *   times:     RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.5+02:00",
 *              "2024-05-01" = midnight UTC) or Unix seconds ("1714560000",
 *              "1714560000.25") */
#ifndef JM_REP_TIMEFMT_H
#define JM_REP_TIMEFMT_H
#include <stddef.h>
#include <stdint.h>

int jm_rep_parse_duration(const char *s, int64_t *ns) __attribute__((warn_unused_result));
int jm_rep_parse_time(const char *s, int64_t *ns) __attribute__((warn_unused_result));
/* "2024-05-01T12:00:00Z" (seconds precision, UTC). */
void jm_rep_format_time(int64_t ns, char *buf, size_t n);
/* "2024-05-01" of a UTC day number. */
void jm_rep_format_day(int64_t day, char *buf, size_t n);
/* Short human duration: "120ms", "45.2s", "12m05s", "3h07m", "2d04h". */
void jm_rep_format_duration(double seconds, char *buf, size_t n);
#endif
