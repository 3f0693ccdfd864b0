/* Time values as int64 microseconds since 1970-01-01T00:00:00Z (negative before
 * it), parsed from and formatted to the text forms the job meets: Graph's
 * date-times (0 to 7 fractional digits, with or without "Z" or an offset; digits
 * past the 6th are truncated), RFC 3339 on the command line, the RFC 1123 form of
 * HTTP dates (x-ms-date, Retry-After), and the compact form of run ids.
 *
 * Calendar arithmetic is done here (proleptic Gregorian, years 0000 to 9999), so
 * nothing depends on the process time zone. Every function is pure except
 * timeutil_now_us; none allocates. */
#ifndef TA_TIMEUTIL_H
#define TA_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIMEUTIL_US_PER_SEC INT64_C(1000000)
#define TIMEUTIL_US_PER_DAY INT64_C(86400000000)
/* Room for any string this module formats, NUL included. */
#define TIMEUTIL_FMT_MAX 40

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31). */
int64_t timeutil_days_from_civil(int64_t year, int month, int day);
/* The date of a day number (the inverse of timeutil_days_from_civil). */
void timeutil_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* Parses "YYYY-MM-DD[Tt ]HH:MM:SS[.fraction][Z|z|+HH:MM|-HH:MM]" with 0 to 9
 * fractional digits (truncated to microseconds), or a bare date "YYYY-MM-DD"
 * (midnight). A time without a zone is taken as UTC. The whole string must be
 * consumed. Returns 0 on success, -1 on anything else (out stays untouched). */
int timeutil_parse(const char *s, int64_t *out_us);

/* Details of what timeutil_parse_ex read. */
typedef struct timeutil_parsed {
    int has_time; /* 0: a bare date */
    int has_zone; /* "Z" or an offset was present */
} timeutil_parsed;

/* timeutil_parse over s[0..n) (no NUL needed); info may be NULL. */
int timeutil_parse_ex(const char *s, size_t n, int64_t *out_us, timeutil_parsed *info);

/* 1 when a dateTimeTimeZone's timeZone names UTC: "UTC" (any case) and its
 * plain aliases ("Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal",
 * "Zulu", "Etc/Zulu", "GMT", "Etc/GMT", "Coordinated Universal Time", and
 * Outlook's "tzone://Microsoft/Utc").
 * Zones that only happen to sit at +00:00 ("GMT Standard Time" is London) are not. */
int timeutil_zone_is_utc(const char *time_zone);

enum { TIMEUTIL_OK = 0, TIMEUTIL_BAD_TIME = -1, TIMEUTIL_NOT_UTC = -2 };
/* Reads a Graph dateTimeTimeZone pair ({"dateTime": ..., "timeZone": ...}).
 * time_zone NULL means the field was absent: the dateTime is then read as UTC.
 * Returns TIMEUTIL_OK, TIMEUTIL_BAD_TIME or TIMEUTIL_NOT_UTC. */
int timeutil_parse_dtz(const char *date_time, const char *time_zone, int64_t *out_us);

/* "2026-11-01T09:00:00Z", or "2026-11-01T09:00:00.123456Z" when the microseconds
 * are not zero. Returns the length written (out must hold TIMEUTIL_FMT_MAX). */
size_t timeutil_format(int64_t us, char *out);
/* Always with 6 fractional digits: "2026-11-01T09:00:00.000000Z". */
size_t timeutil_format_us(int64_t us, char *out);
/* "2026-11-01" */
size_t timeutil_format_date(int64_t us, char *out);
/* "20261101T090000Z" (run ids) */
size_t timeutil_format_compact(int64_t us, char *out);
/* "Sun, 01 Nov 2026 09:00:00 GMT" (x-ms-date, HTTP dates) */
size_t timeutil_format_rfc1123(int64_t us, char *out);
/* Parses the RFC 1123 form above (the only HTTP-date form servers send now);
 * 0 on success, -1 otherwise. */
int timeutil_parse_rfc1123(const char *s, int64_t *out_us);

/* The wall clock, microseconds since the epoch. */
int64_t timeutil_now_us(void);

#endif
