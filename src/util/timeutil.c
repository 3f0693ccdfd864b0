/* Time parsing and formatting in microseconds since the epoch: see timeutil.h.
 * The civil-date conversions follow the well-known era-based algorithm (400-year
 * eras of 146097 days), which is exact for negative day numbers too. */
#include "util/timeutil.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t timeutil_days_from_civil(int64_t year, int month, int day)
{
    int64_t y = year - (month <= 2);
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                         /* [0, 399] */
    int64_t mp = (month + 9) % 12;                       /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + day - 1;          /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void timeutil_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly `width` decimal digits at s; -1 when one is not a digit. */
static int digits(const char *s, int width)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The number in the n digits at s, or -1 when one is not a digit. */
static inline int fixed_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    return v;
}

/* The form Graph writes, "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z", read with fewer tests than
 * the general reader below (convert reads millions). 1 when it is that form with every
 * field in range, *out_us and *info then being what the general reader gives; 0 leaves
 * the string to it. */
static int parse_graph_form(const char *s, size_t n, int64_t *out_us, timeutil_parsed *info)
{
    if (n < 20 || n == 21 || n > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[n - 1] != 'Z' || (n > 20 && s[19] != '.'))
        return 0;
    int year = fixed_digits(s, 4), mon = fixed_digits(s + 5, 2), mday = fixed_digits(s + 8, 2);
    int hh = fixed_digits(s + 11, 2), mm = fixed_digits(s + 14, 2), ss = fixed_digits(s + 17, 2);
    if (year < 0 || mon < 1 || mon > 12 || mday < 1 || mday > days_in_month(year, mon) || hh < 0 ||
        hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59)
        return 0;
    int64_t frac = 0;
    size_t nd = n > 20 ? n - 21 : 0;
    for (size_t k = 0; k < nd; k++) {
        unsigned d = (unsigned)(unsigned char)s[20 + k] - '0';
        if (d > 9)
            return 0;
        if (k < 6)
            frac = frac * 10 + d;
    }
    for (size_t k = nd; k < 6; k++)
        frac *= 10;
    *out_us = timeutil_days_from_civil(year, mon, mday) * TIMEUTIL_US_PER_DAY +
              ((int64_t)hh * 3600 + mm * 60 + ss) * TIMEUTIL_US_PER_SEC + frac;
    if (info) {
        info->has_time = 1;
        info->has_zone = 1;
    }
    return 1;
}

int timeutil_parse_ex(const char *s, size_t n, int64_t *out_us, timeutil_parsed *info)
{
    if (s && parse_graph_form(s, n, out_us, info))
        return 0;
    if (!s || n < 10 || s[4] != '-' || s[7] != '-')
        return -1;
    int year = digits(s, 4), mon = digits(s + 5, 2), mday = digits(s + 8, 2);
    if (year < 0 || mon < 1 || mon > 12 || mday < 1 || mday > days_in_month(year, mon))
        return -1;
    int64_t us = timeutil_days_from_civil(year, mon, mday) * TIMEUTIL_US_PER_DAY;
    timeutil_parsed got = {0, 0};
    size_t i = 10;
    if (i < n) {
        if (n < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
            s[16] != ':')
            return -1;
        int hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = digits(s + 17, 2);
        if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59)
            return -1;
        us += ((int64_t)hh * 3600 + mm * 60 + ss) * TIMEUTIL_US_PER_SEC;
        got.has_time = 1;
        i = 19;
        if (i < n && s[i] == '.') {
            i++;
            size_t start = i;
            int64_t frac = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (i - start < 6)
                    frac = frac * 10 + (s[i] - '0');
                i++;
            }
            size_t nd = i - start;
            if (nd == 0 || nd > 9)
                return -1;
            for (size_t k = nd; k < 6; k++)
                frac *= 10;
            us += frac;
        }
        if (i < n) {
            if (s[i] == 'Z' || s[i] == 'z') {
                i++;
                got.has_zone = 1;
            } else if (s[i] == '+' || s[i] == '-') {
                if (n - i < 6 || s[i + 3] != ':')
                    return -1;
                int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
                if (oh < 0 || oh > 23 || om < 0 || om > 59)
                    return -1;
                int64_t off = ((int64_t)oh * 3600 + om * 60) * TIMEUTIL_US_PER_SEC;
                us += s[i] == '+' ? -off : off;
                i += 6;
                got.has_zone = 1;
            }
        }
    }
    if (i != n)
        return -1;
    *out_us = us;
    if (info)
        *info = got;
    return 0;
}

int timeutil_parse(const char *s, int64_t *out_us)
{
    if (!s)
        return -1;
    return timeutil_parse_ex(s, strlen(s), out_us, NULL);
}

int timeutil_zone_is_utc(const char *tz)
{
    static const char *const names[] = {"UTC",
                                        "Etc/UTC",
                                        "UCT",
                                        "Etc/UCT",
                                        "Universal",
                                        "Etc/Universal",
                                        "Zulu",
                                        "Etc/Zulu",
                                        "GMT",
                                        "Etc/GMT",
                                        "Coordinated Universal Time",
                                        "tzone://Microsoft/Utc"};
    if (!tz)
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(tz, names[i]) == 0)
            return 1;
    return 0;
}

int timeutil_parse_dtz(const char *date_time, const char *time_zone, int64_t *out_us)
{
    if (time_zone && !timeutil_zone_is_utc(time_zone))
        return TIMEUTIL_NOT_UTC;
    if (timeutil_parse(date_time, out_us) != 0)
        return TIMEUTIL_BAD_TIME;
    return TIMEUTIL_OK;
}

typedef struct civil {
    int64_t year;
    int month, day, hour, min, sec, usec, wday; /* wday: 0 = Thursday (1970-01-01) */
} civil;

static void split(int64_t us, civil *c)
{
    int64_t days = floor_div(us, TIMEUTIL_US_PER_DAY);
    int64_t rem = us - days * TIMEUTIL_US_PER_DAY; /* [0, one day) */
    timeutil_civil_from_days(days, &c->year, &c->month, &c->day);
    int64_t secs = rem / TIMEUTIL_US_PER_SEC;
    c->usec = (int)(rem % TIMEUTIL_US_PER_SEC);
    c->hour = (int)(secs / 3600);
    c->min = (int)(secs / 60 % 60);
    c->sec = (int)(secs % 60);
    int64_t w = days % 7;
    c->wday = (int)(w < 0 ? w + 7 : w);
}

/* Writes v as exactly `width` digits (years outside 0..9999 are clamped so the
 * output keeps its shape; no caller meets them). */
static char *put(char *p, int64_t v, int width)
{
    if (v < 0)
        v = 0;
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static size_t format(int64_t us, char *out, int frac)
{
    civil c;
    split(us, &c);
    char *p = out;
    p = put(p, c.year > 9999 ? 9999 : c.year, 4);
    *p++ = '-';
    p = put(p, c.month, 2);
    *p++ = '-';
    p = put(p, c.day, 2);
    *p++ = 'T';
    p = put(p, c.hour, 2);
    *p++ = ':';
    p = put(p, c.min, 2);
    *p++ = ':';
    p = put(p, c.sec, 2);
    if (frac || c.usec) {
        *p++ = '.';
        p = put(p, c.usec, 6);
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

size_t timeutil_format(int64_t us, char *out)
{
    return format(us, out, 0);
}

size_t timeutil_format_us(int64_t us, char *out)
{
    return format(us, out, 1);
}

size_t timeutil_format_date(int64_t us, char *out)
{
    civil c;
    split(us, &c);
    char *p = put(out, c.year > 9999 ? 9999 : c.year, 4);
    *p++ = '-';
    p = put(p, c.month, 2);
    *p++ = '-';
    p = put(p, c.day, 2);
    *p = '\0';
    return (size_t)(p - out);
}

size_t timeutil_format_compact(int64_t us, char *out)
{
    civil c;
    split(us, &c);
    char *p = put(out, c.year > 9999 ? 9999 : c.year, 4);
    p = put(p, c.month, 2);
    p = put(p, c.day, 2);
    *p++ = 'T';
    p = put(p, c.hour, 2);
    p = put(p, c.min, 2);
    p = put(p, c.sec, 2);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

size_t timeutil_format_rfc1123(int64_t us, char *out)
{
    civil c;
    split(us, &c);
    char *p = out;
    memcpy(p, day_names[c.wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put(p, c.day, 2);
    *p++ = ' ';
    memcpy(p, month_names[c.month - 1], 3);
    p += 3;
    *p++ = ' ';
    p = put(p, c.year > 9999 ? 9999 : c.year, 4);
    *p++ = ' ';
    p = put(p, c.hour, 2);
    *p++ = ':';
    p = put(p, c.min, 2);
    *p++ = ':';
    p = put(p, c.sec, 2);
    memcpy(p, " GMT", 4);
    p += 4;
    *p = '\0';
    return (size_t)(p - out);
}

int timeutil_parse_rfc1123(const char *s, int64_t *out_us)
{
    /* "Sun, 01 Nov 2026 09:00:00 GMT" */
    if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
        return -1;
    int known_day = 0;
    for (int i = 0; i < 7; i++)
        if (strncmp(s, day_names[i], 3) == 0)
            known_day = 1;
    int mon = 0;
    for (int i = 0; i < 12; i++)
        if (strncmp(s + 8, month_names[i], 3) == 0)
            mon = i + 1;
    int day = digits(s + 5, 2), year = digits(s + 12, 4);
    int hh = digits(s + 17, 2), mm = digits(s + 20, 2), ss = digits(s + 23, 2);
    if (!known_day || !mon || year < 0 || day < 1 || day > days_in_month(year, mon) || hh < 0 ||
        hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return -1;
    if (ss == 60) /* a leap second: the next instant is close enough */
        ss = 59;
    *out_us = (timeutil_days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss) *
              TIMEUTIL_US_PER_SEC;
    return 0;
}

int64_t timeutil_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * TIMEUTIL_US_PER_SEC + ts.tv_nsec / 1000;
}
