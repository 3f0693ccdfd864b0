/* Merging one table's files: the newest copy of each key (greatest extracted_utc,
 * then run_id) comes out once with all its values, checked against a brute-force
 * choice over every copy; the same with the key table made small enough to force
 * many partitions; identical copies (a compacted file beside its not-yet-deleted
 * inputs) come out once; a file of another table is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "job/merge.h"
#include "parquet/reader.h"
#include "tables/tables.h"

#define NFILES 4
#define NKEYS 3000

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_merge-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Copy of key k in file f, or 0 when the file has none. File 3 repeats file 0. */
static int has_copy(int f, int k)
{
    if (f == 3)
        f = 0;
    return (k + f) % 3 != 0 || f == 0;
}

static int64_t ext_of(int f, int k)
{
    if (f == 3)
        f = 0;
    return INT64_C(1780000000000000) + (int64_t)((k * 7 + f * 5) % 4) * 1000000;
}

static void run_of(int f, int k, char *out, size_t n)
{
    if (f == 3)
        f = 0;
    snprintf(out, n, "20261101T%02d0000Z-00000%d", (k + 2 * f) % 3, f);
}

static status sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    (void)err;
    return fwrite(data, 1, len, ctx) == len ? ST_OK : ST_IO;
}

static void write_reports(const char *path, int f)
{
    const table_def *d = tables_def(TBL_REPORTS);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    pq_options o = {.codec = PQ_CODEC_SNAPPY, .row_group_rows = 700, .int96_timestamps = f == 2};
    pq_writer *w;
    errinfo err = {0};
    assert_int_equal(pq_writer_open(&w, d->cols, d->ncols, &o, sink, fp, &err), ST_OK);
    for (int k = NKEYS - 1; k >= 0; k--) {
        if (!has_copy(f, k))
            continue;
        char id[32], run[40], upn[32];
        snprintf(id, sizeof id, "report-%05d", k);
        snprintf(upn, sizeof upn, "u%d@example.com", f == 3 ? 0 : f);
        run_of(f, k, run, sizeof run);
        tables_value v[REP_NCOLS] = {0};
        v[REP_REPORT_ID] = (tables_value){0, 0, id, strlen(id)};
        v[REP_ONLINE_MEETING_ID] = (tables_value){0, 0, "m", 1};
        v[REP_EVENT_ID] = (tables_value){k % 5 == 0, 0, "e", 1};
        v[REP_USER_UPN] = (tables_value){0, 0, upn, strlen(upn)};
        v[REP_TOTAL_PARTICIPANT_COUNT] = (tables_value){0, (f == 3 ? 0 : f) * 100000 + k, NULL, 0};
        v[REP_MEETING_START_UTC] = (tables_value){0, INT64_C(1780000000000000) + k, NULL, 0};
        v[REP_MEETING_END_UTC] = (tables_value){k % 7 == 0, INT64_C(1780000001000000), NULL, 0};
        v[REP_RUN_ID] = (tables_value){0, 0, run, strlen(run)};
        v[REP_EXTRACTED_UTC] = (tables_value){0, ext_of(f, k), NULL, 0};
        assert_int_equal(tables_write_row(w, TBL_REPORTS, v, &err), ST_OK);
    }
    assert_int_equal(pq_writer_close(w, &err), ST_OK);
    pq_writer_free(w);
    fclose(fp);
}

/* The file whose copy of k must be kept: brute force over every copy. */
static int winner(int k)
{
    int best = -1;
    char br[40] = "", r[40];
    for (int f = 0; f < NFILES; f++) {
        if (!has_copy(f, k))
            continue;
        run_of(f, k, r, sizeof r);
        if (best < 0 || ext_of(f, k) > ext_of(best, k) ||
            (ext_of(f, k) == ext_of(best, k) && strcmp(r, br) > 0)) {
            best = f;
            memcpy(br, r, sizeof br);
        }
    }
    return best == 3 ? 0 : best;
}

static void merge_and_check(size_t hash_bytes, unsigned min_parts)
{
    char paths[NFILES][128], labels[NFILES][32], out[128];
    merge_input in[NFILES];
    for (int f = 0; f < NFILES; f++) {
        snprintf(paths[f], sizeof paths[f], "%s/in-%d.parquet", dir, f);
        snprintf(labels[f], sizeof labels[f], "input %d", f);
        write_reports(paths[f], f);
        in[f] = (merge_input){paths[f], labels[f]};
    }
    snprintf(out, sizeof out, "%s/out.parquet", dir);
    pq_options o = {.codec = PQ_CODEC_ZSTD, .kv = tables_parquet_kv, .nkv = 1};
    merge_stats ms;
    errinfo err = {0};
    assert_int_equal(merge_files(TBL_REPORTS, in, NFILES, out, &o, hash_bytes, &ms, &err), ST_OK);
    assert_true(ms.partitions >= min_parts);
    assert_int_equal(ms.rows_out, NKEYS);

    pq_reader *r;
    assert_int_equal(pq_reader_open(&r, out, "out", &err), ST_OK);
    assert_int_equal(pq_reader_rows(r), NKEYS);
    static unsigned char seen[NKEYS];
    memset(seen, 0, sizeof seen);
    pq_value v[REP_NCOLS];
    for (;;) {
        int got;
        assert_int_equal(pq_reader_next(r, v, &got, &err), ST_OK);
        if (!got)
            break;
        int k = atoi(v[REP_REPORT_ID].s + 7);
        assert_in_range(k, 0, NKEYS - 1);
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
        int f = winner(k);
        char run[40];
        run_of(f, k, run, sizeof run);
        assert_int_equal(v[REP_TOTAL_PARTICIPANT_COUNT].i, f * 100000 + k);
        assert_int_equal(v[REP_EXTRACTED_UTC].i, ext_of(f, k));
        assert_int_equal(v[REP_RUN_ID].len, strlen(run));
        assert_memory_equal(v[REP_RUN_ID].s, run, strlen(run));
        assert_int_equal(v[REP_EVENT_ID].null, k % 5 == 0);
        assert_int_equal(v[REP_MEETING_END_UTC].null, k % 7 == 0);
        assert_int_equal(v[REP_MEETING_START_UTC].i, INT64_C(1780000000000000) + k);
    }
    pq_reader_free(r);
}

static void test_merge__newest_copy_of_each_key(void **state)
{
    (void)state;
    merge_and_check(0, 1);
}

static void test_merge__partitions(void **state)
{
    (void)state;
    merge_and_check(1, 8); /* 1,024 slots: about 700 keys a partition */
}

static void test_merge__other_table_refused(void **state)
{
    (void)state;
    char path[128], out[128];
    snprintf(path, sizeof path, "%s/rep.parquet", dir);
    snprintf(out, sizeof out, "%s/out2.parquet", dir);
    write_reports(path, 1);
    merge_input in = {path, "parquet/events/ingest_date=2026-11-01/x.parquet"};
    pq_options o = {0};
    merge_stats ms;
    errinfo err = {0};
    assert_int_equal(merge_files(TBL_EVENTS, &in, 1, out, &o, 0, &ms, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "ingest_date=2026-11-01/x.parquet"));
    /* and a file that is not Parquet at all */
    FILE *fp = fopen(path, "wb");
    fputs("not parquet", fp);
    fclose(fp);
    err = (errinfo){0};
    in.label = "broken.parquet";
    assert_int_equal(merge_files(TBL_REPORTS, &in, 1, out, &o, 0, &ms, &err), ST_DATA);
    assert_non_null(strstr(err.msg, "broken.parquet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge__newest_copy_of_each_key),
        cmocka_unit_test(test_merge__partitions),
        cmocka_unit_test(test_merge__other_table_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
