/* Names of everything the job writes: see layout.h. */
#include "layout.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

void layout_run_id(int64_t start_us, char id[LAYOUT_RUN_ID_MAX], char date[LAYOUT_DATE_MAX])
{
    unsigned char rnd[3];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        /* no random source: the clock's microseconds and the pid still tell replicas apart */
        unsigned v = (unsigned)getpid() << 8 ^ (unsigned)start_us;
        rnd[0] = (unsigned char)v;
        rnd[1] = (unsigned char)(v >> 8);
        rnd[2] = (unsigned char)(v >> 16);
    }
    char compact[TIMEUTIL_FMT_MAX];
    timeutil_format_compact(start_us, compact);
    snprintf(id, LAYOUT_RUN_ID_MAX, "%.20s-%02x%02x%02x", compact, rnd[0], rnd[1], rnd[2]);
    char d[TIMEUTIL_FMT_MAX];
    timeutil_format_date(start_us, d);
    snprintf(date, LAYOUT_DATE_MAX, "%.10s", d);
}

/* The buffer's text, or NULL (and the buffer freed) when st failed. */
static char *done(buf *b, status st)
{
    if (st != ST_OK) {
        buf_dispose(b);
        return NULL;
    }
    return buf_take(b);
}

char *layout_snapshot(const char *prefix, const char *kind, const char *date, const char *upn,
                      const char *run_id)
{
    buf b;
    buf_init(&b, 0);
    status st = buf_appendf(&b, NULL, "%sraw/%s/date=%s/user=", prefix, kind, date);
    if (st == ST_OK)
        st = urlenc_upn_folder(&b, upn, NULL);
    if (st == ST_OK)
        st = buf_appendf(&b, NULL, "/%s.json", run_id);
    return done(&b, st);
}

char *layout_parquet_dir(const char *prefix, const char *table, const char *date)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sparquet/%s/ingest_date=%s", prefix, table, date));
}

char *layout_parquet(const char *prefix, const char *table, const char *date, const char *run_id)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sparquet/%s/ingest_date=%s/%s.parquet", prefix, table,
                                date, run_id));
}

char *layout_manifest(const char *prefix, const char *run_id)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sregistry/runs/%s.json", prefix, run_id));
}

char *layout_checkpoint(const char *prefix)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sregistry/checkpoint.json", prefix));
}

char *layout_registry(const char *prefix, const char *upn)
{
    buf b;
    buf_init(&b, 0);
    status st = buf_appendf(&b, NULL, "%sregistry/mailboxes/", prefix);
    if (st == ST_OK)
        st = urlenc_upn_folder(&b, upn, NULL);
    if (st == ST_OK)
        st = buf_appends(&b, ".json", NULL);
    return done(&b, st);
}

char *layout_claim(const char *prefix, const char *execution, const char *upn)
{
    buf b;
    buf_init(&b, 0);
    status st = buf_appendf(&b, NULL, "%sregistry/claims/%s/", prefix, execution);
    if (st == ST_OK)
        st = urlenc_upn_folder(&b, upn, NULL);
    return done(&b, st);
}

char *layout_parquet_table(const char *prefix, const char *table)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sparquet/%s/", prefix, table));
}

char *layout_compacted(const char *prefix, const char *table, const char *month, const char *run_id)
{
    buf b;
    buf_init(&b, 0);
    return done(&b, buf_appendf(&b, NULL, "%sparquet/%s/month=%s/compacted-%s.parquet", prefix,
                                table, month, run_id));
}

/* n digits at s; their value, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM" at s, a month that exists; 0 when it is one. */
static int read_month(const char *s)
{
    int y = digits(s, 4), m = digits(s + 5, 2);
    return y >= 1970 && y <= 9999 && s[4] == '-' && m >= 1 && m <= 12 ? 0 : -1;
}

/* A file name of a run or of compact: a non-empty name of safe bytes ending in .parquet. */
static int parquet_base(const char *s)
{
    size_t n = strlen(s);
    if (n <= 8 || strcmp(s + n - 8, ".parquet") != 0 || s[0] == '.' || s[0] == '_')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

layout_kind layout_parse_table_file(const char *prefix, const char *table, const char *name,
                                    char date[LAYOUT_DATE_MAX], char month[LAYOUT_DATE_MAX])
{
    date[0] = month[0] = '\0';
    char *dir = layout_parquet_table(prefix, table);
    if (!dir)
        return LAYOUT_OTHER;
    size_t dl = strlen(dir);
    int under = strncmp(name, dir, dl) == 0;
    free(dir);
    if (!under)
        return LAYOUT_OTHER;
    const char *rest = name + dl;
    if (strncmp(rest, "ingest_date=", 12) == 0) {
        const char *d = rest + 12;
        if (strlen(d) < 11 || d[10] != '/' || read_month(d) != 0 || d[7] != '-' ||
            !parquet_base(d + 11) || strchr(d + 11, '/'))
            return LAYOUT_OTHER;
        int y = digits(d, 4), m = digits(d + 5, 2), day = digits(d + 8, 2);
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (day < 1 || day > mdays[m - 1] + (m == 2 && leap))
            return LAYOUT_OTHER;
        snprintf(date, LAYOUT_DATE_MAX, "%.10s", d);
        snprintf(month, LAYOUT_DATE_MAX, "%.7s", d);
        return LAYOUT_INGEST;
    }
    if (strncmp(rest, "month=", 6) == 0) {
        const char *m = rest + 6;
        if (strlen(m) < 8 || m[7] != '/' || read_month(m) != 0 ||
            strncmp(m + 8, "compacted-", 10) != 0 || !parquet_base(m + 8) || strchr(m + 8, '/'))
            return LAYOUT_OTHER;
        snprintf(month, LAYOUT_DATE_MAX, "%.7s", m);
        return LAYOUT_COMPACTED;
    }
    return LAYOUT_OTHER;
}
