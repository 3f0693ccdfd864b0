/* Names of compact's files: the month= path, and the reader of listed names that
 * decides what compact may merge and delete (anything else is left alone). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"

static void test_layout__compacted_name(void **state)
{
    (void)state;
    char *n = layout_compacted("a/b/", "events", "2026-10", "20261203T010203Z-abcdef");
    assert_string_equal(
        n, "a/b/parquet/events/month=2026-10/compacted-20261203T010203Z-abcdef.parquet");
    char date[LAYOUT_DATE_MAX], month[LAYOUT_DATE_MAX];
    assert_int_equal(layout_parse_table_file("a/b/", "events", n, date, month), LAYOUT_COMPACTED);
    assert_string_equal(month, "2026-10");
    assert_string_equal(date, "");
    free(n);
    n = layout_parquet_table("", "attendance_records");
    assert_string_equal(n, "parquet/attendance_records/");
    free(n);
}

static void test_layout__parse_run_files(void **state)
{
    (void)state;
    char date[LAYOUT_DATE_MAX], month[LAYOUT_DATE_MAX];
    char *n = layout_parquet("", "events", "2024-02-29", "20240229T230000Z-00ff00");
    assert_int_equal(layout_parse_table_file("", "events", n, date, month), LAYOUT_INGEST);
    assert_string_equal(date, "2024-02-29");
    assert_string_equal(month, "2024-02");
    free(n);
    static const char *const others[] = {
        "parquet/events/ingest_date=2023-02-29/r.parquet",   /* not a day */
        "parquet/events/ingest_date=2026-13-01/r.parquet",   /* not a month */
        "parquet/events/ingest_date=2026-10-01/.r.parquet",  /* a write in progress */
        "parquet/events/ingest_date=2026-10-01/r.json",      /* not Parquet */
        "parquet/events/ingest_date=2026-10-01/x/r.parquet", /* deeper */
        "parquet/events/ingest_date=2026-10-1/r.parquet",
        "parquet/events/month=2026-10/r.parquet", /* not a compacted name */
        "parquet/events/month=2026-10/compacted-a b.parquet",
        "parquet/events2/ingest_date=2026-10-01/r.parquet", /* another table */
        "parquet/events/other/r.parquet",
        "x/parquet/events/ingest_date=2026-10-01/r.parquet", /* another prefix */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(layout_parse_table_file("", "events", others[i], date, month),
                         LAYOUT_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout__compacted_name),
        cmocka_unit_test(test_layout__parse_run_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
