/* Writes a month of attendance_records run files for `compact` benchmarks and
 * tests: month_gen ROOT FILES ROWS_PER_FILE KEYS. File f lands in
 * ROOT/parquet/attendance_records/ingest_date=2026-10-DD/20261010T..Z-xxxxxx.parquet
 * (spread over October) and holds ROWS_PER_FILE rows whose keys cycle through KEYS
 * distinct (report_id, record_key) pairs, so each key has several copies and the
 * merged month holds min(KEYS, FILES x ROWS_PER_FILE) rows. Prints that count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tables/tables.h"

static status sink(void *ctx, const void *data, size_t len, errinfo *err)
{
    return fwrite(data, 1, len, ctx) == len ? ST_OK : err_set(err, ST_IO, "write failed");
}

static int mkdirs(char *p)
{
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: month_gen ROOT FILES ROWS_PER_FILE KEYS\n");
        return 2;
    }
    long files = atol(argv[2]), rows = atol(argv[3]), keys = atol(argv[4]);
    const table_def *d = tables_def(TBL_RECORDS);
    long next = 0;
    for (long f = 0; f < files; f++) {
        char run[40], path[4096];
        int day = 1 + (int)(f * 31 / files), hour = (int)(f % 24);
        snprintf(run, sizeof run, "202610%02dT%02d0000Z-%06lx", day, hour, f & 0xffffff);
        snprintf(path, sizeof path,
                 "%s/parquet/attendance_records/ingest_date=2026-10-%02d/%s.parquet", argv[1], day,
                 run);
        if (mkdirs(path) != 0)
            return 1;
        FILE *fp = fopen(path, "wb");
        pq_options o = {.codec = PQ_CODEC_SNAPPY, .kv = tables_parquet_kv, .nkv = 1};
        pq_writer *w;
        errinfo err = {0};
        if (!fp || pq_writer_open(&w, d->cols, d->ncols, &o, sink, fp, &err) != ST_OK)
            return 1;
        for (long r = 0; r < rows; r++, next++) {
            long k = next % keys;
            char rep[48], key[48], email[48], name[48];
            snprintf(rep, sizeof rep, "report-%08ld", k / 20);
            snprintf(key, sizeof key, "record-%08ld-%02ld", k / 20, k % 20);
            snprintf(email, sizeof email, "person%ld@contoso.com", k % 5000);
            snprintf(name, sizeof name, "Person %ld", k % 5000);
            tables_value v[REC_NCOLS] = {0};
            v[REC_RECORD_KEY] = (tables_value){0, 0, key, strlen(key)};
            v[REC_RECORD_ID] = (tables_value){0, 0, key, strlen(key)};
            v[REC_REPORT_ID] = (tables_value){0, 0, rep, strlen(rep)};
            v[REC_ONLINE_MEETING_ID] = (tables_value){0, 0, rep, strlen(rep)};
            v[REC_USER_UPN] = (tables_value){0, 0, "org@contoso.com", 15};
            v[REC_EMAIL] = (tables_value){0, 0, email, strlen(email)};
            v[REC_DISPLAY_NAME] = (tables_value){0, 0, name, strlen(name)};
            v[REC_IDENTITY_ID] = (tables_value){1, 0, NULL, 0};
            v[REC_IDENTITY_TENANT_ID] = (tables_value){1, 0, NULL, 0};
            v[REC_ROLE] = (tables_value){0, 0, "Attendee", 8};
            v[REC_TOTAL_ATTENDANCE_SECONDS] = (tables_value){0, f, NULL, 0};
            v[REC_FIRST_JOIN_UTC] = (tables_value){0, INT64_C(1790000000000000) + k, NULL, 0};
            v[REC_LAST_LEAVE_UTC] =
                (tables_value){0, INT64_C(1790000000000000) + k + 60000000, NULL, 0};
            v[REC_INTERVAL_COUNT] = (tables_value){0, 1, NULL, 0};
            v[REC_RUN_ID] = (tables_value){0, 0, run, strlen(run)};
            v[REC_EXTRACTED_UTC] =
                (tables_value){0, INT64_C(1790000000000000) + f * 3600000000, NULL, 0};
            if (tables_write_row(w, TBL_RECORDS, v, &err) != ST_OK) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        }
        if (pq_writer_close(w, &err) != ST_OK)
            return 1;
        pq_writer_free(w);
        fclose(fp);
    }
    printf("%ld\n", next < keys ? next : keys);
    return 0;
}
