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
        buf_free(b);
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
