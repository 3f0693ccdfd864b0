/* Checkpoint parsing and merging (SPEC section 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job/checkpoint.h"
#include "util/timeutil.h"

static int64_t t(const char *s)
{
    int64_t us = 0;
    assert_int_equal(timeutil_parse(s, &us), 0);
    return us;
}

static const char *wm_of(json_t *doc, const char *upn)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "mailboxes"), upn), "watermark"));
}

/* The old job's file: its value is the watermark of its mailboxes (SGA_UPN*) only;
 * the new file keeps it, with the mailboxes still on it, until each has an entry. */
static void test_checkpoint__legacy_file(void **state)
{
    (void)state;
    const char *old = "{\"last_meeting_start\": \"2026-11-01T09:00:00Z\"}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(old, strlen(old), &cp, &e), ST_OK);
    char *sga[] = {"ann@contoso.com", "bob@contoso.com"};
    checkpoint_set_legacy_mailboxes(&cp, sga, 2);
    assert_true(checkpoint_watermark(&cp, "Ann@Contoso.com") == t("2026-11-01T09:00:00Z"));
    assert_true(checkpoint_watermark(&cp, "bob@contoso.com") == t("2026-11-01T09:00:00Z"));
    /* a mailbox the old job never read gets its own first-run window */
    assert_true(checkpoint_watermark(&cp, "new@contoso.com") == INT64_MIN);

    /* the first new run processed ann only (bob: another shard); new@ failed */
    checkpoint_update up[] = {{"ann@contoso.com", t("2026-11-20T00:00:00Z"), 1},
                              {"new@contoso.com", INT64_MIN, 0}};
    json_t *m =
        checkpoint_merge(&cp, up, 2, "r2", t("2026-11-28T00:00:00Z"), t("2026-11-28T00:00:00Z"));
    assert_string_equal(wm_of(m, "ann@contoso.com"), "2026-11-20T00:00:00Z");
    assert_null(wm_of(m, "bob@contoso.com"));
    assert_string_equal(json_string_value(json_object_get(m, "legacy_last_meeting_start")),
                        "2026-11-01T09:00:00Z");
    json_t *left = json_object_get(m, "legacy_mailboxes");
    assert_int_equal(json_array_size(left), 1);
    assert_string_equal(json_string_value(json_array_get(left, 0)), "bob@contoso.com");
    checkpoint_dispose(&cp);

    /* read back (SGA_UPN* gone from the settings by now): bob still starts from T */
    char *text = json_dumps(m, 0);
    json_decref(m);
    assert_int_equal(checkpoint_parse(text, strlen(text), &cp, &e), ST_OK);
    free(text);
    checkpoint_set_legacy_mailboxes(&cp, NULL, 0);
    assert_true(checkpoint_watermark(&cp, "bob@contoso.com") == t("2026-11-01T09:00:00Z"));
    assert_true(checkpoint_watermark(&cp, "ann@contoso.com") == t("2026-11-20T00:00:00Z"));
    assert_true(checkpoint_watermark(&cp, "new@contoso.com") == INT64_MIN);
    /* bob fails: he keeps T (no entry of his own), his streak waits under "failing" */
    checkpoint_update up2[] = {{"bob@contoso.com", t("2026-11-01T09:00:00Z"), 0}};
    m = checkpoint_merge(&cp, up2, 1, "r3", t("2026-11-29T00:00:00Z"), t("2026-11-29T00:00:00Z"));
    assert_null(wm_of(m, "bob@contoso.com"));
    assert_non_null(json_object_get(json_object_get(m, "failing"), "bob@contoso.com"));
    assert_int_equal(json_array_size(json_object_get(m, "legacy_mailboxes")), 1);
    json_decref(m);
    /* then succeeds: the legacy fields are gone */
    checkpoint_update up3[] = {{"bob@contoso.com", t("2026-11-25T00:00:00Z"), 1}};
    m = checkpoint_merge(&cp, up3, 1, "r4", t("2026-11-30T00:00:00Z"), t("2026-11-30T00:00:00Z"));
    assert_string_equal(wm_of(m, "bob@contoso.com"), "2026-11-25T00:00:00Z");
    assert_null(json_object_get(m, "legacy_last_meeting_start"));
    assert_null(json_object_get(m, "legacy_mailboxes"));
    json_decref(m);
    checkpoint_dispose(&cp);
}

/* Keys written by hand in another case are found, and written back lower-cased. */
static void test_checkpoint__mixed_case_keys(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"mailboxes\":{"
                      "\"Alice@Contoso.com\":{\"watermark\":\"2026-11-05T00:00:00Z\"},"
                      "\"BOB@x.com\":{\"watermark\":\"2026-11-01T00:00:00Z\"},"
                      "\"bob@x.com\":{\"watermark\":\"2026-11-03T00:00:00Z\"}}}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(doc, strlen(doc), &cp, &e), ST_OK);
    assert_true(checkpoint_watermark(&cp, "alice@contoso.com") == t("2026-11-05T00:00:00Z"));
    assert_true(checkpoint_watermark(&cp, "bob@x.com") == t("2026-11-03T00:00:00Z"));
    checkpoint_update up[] = {{"alice@contoso.com", t("2026-11-06T00:00:00Z"), 1}};
    json_t *m =
        checkpoint_merge(&cp, up, 1, "r2", t("2026-11-28T00:00:00Z"), t("2026-11-28T00:00:00Z"));
    json_t *mbs = json_object_get(m, "mailboxes");
    assert_int_equal(json_object_size(mbs), 2);
    assert_string_equal(wm_of(m, "alice@contoso.com"), "2026-11-06T00:00:00Z");
    assert_string_equal(wm_of(m, "bob@x.com"), "2026-11-03T00:00:00Z"); /* the later kept */
    json_decref(m);
    checkpoint_dispose(&cp);
}

/* An entry that cannot be read stops nothing: ignored, and kept as it is. */
static void test_checkpoint__bad_entry_ignored(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"mailboxes\":{"
                      "\"gone@x.com\":{\"watermark\":5,\"note\":\"by hand\"},"
                      "\"a@x.com\":{\"watermark\":\"2026-11-05T00:00:00Z\"}}}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(doc, strlen(doc), &cp, &e), ST_OK);
    assert_true(checkpoint_watermark(&cp, "gone@x.com") == INT64_MIN);
    checkpoint_update up[] = {{"a@x.com", t("2026-11-06T00:00:00Z"), 1}};
    json_t *m =
        checkpoint_merge(&cp, up, 1, "r2", t("2026-11-28T00:00:00Z"), t("2026-11-28T00:00:00Z"));
    json_t *gone = json_object_get(json_object_get(m, "mailboxes"), "gone@x.com");
    assert_int_equal(json_integer_value(json_object_get(gone, "watermark")), 5);
    assert_string_equal(json_string_value(json_object_get(gone, "note")), "by hand");
    json_decref(m);
    checkpoint_dispose(&cp);
}

static void test_checkpoint__per_mailbox(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"last_meeting_start\":\"2026-11-02T00:00:00Z\","
                      "\"mailboxes\":{\"a@x.com\":{\"watermark\":\"2026-11-02T00:00:00Z\","
                      "\"run_id\":\"r1\"}}}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(doc, strlen(doc), &cp, &e), ST_OK);
    assert_true(checkpoint_watermark(&cp, "A@X.com") == t("2026-11-02T00:00:00Z"));
    assert_true(checkpoint_watermark(&cp, "b@x.com") == INT64_MIN);
    checkpoint_dispose(&cp);
}

static void test_checkpoint__merge_keeps_later(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"mailboxes\":{"
                      "\"a@x.com\":{\"watermark\":\"2026-11-05T00:00:00Z\",\"run_id\":\"r1\"},"
                      "\"c@x.com\":{\"watermark\":\"2026-11-01T00:00:00Z\",\"run_id\":\"r1\"}}}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(doc, strlen(doc), &cp, &e), ST_OK);
    checkpoint_update up[] = {{"a@x.com", t("2026-11-03T00:00:00Z"), 1},
                              {"b@x.com", t("2026-11-04T00:00:00Z"), 1},
                              {"c@x.com", t("2026-11-01T00:00:00Z"), 0}};
    json_t *m =
        checkpoint_merge(&cp, up, 3, "r2", t("2026-11-28T00:00:00Z"), t("2026-11-28T00:00:00Z"));
    assert_string_equal(wm_of(m, "a@x.com"), "2026-11-05T00:00:00Z"); /* not undone */
    assert_string_equal(wm_of(m, "b@x.com"), "2026-11-04T00:00:00Z");
    assert_string_equal(wm_of(m, "c@x.com"), "2026-11-01T00:00:00Z"); /* kept */
    json_t *mbs = json_object_get(m, "mailboxes");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mbs, "a@x.com"), "run_id")), "r1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mbs, "b@x.com"), "run_id")), "r2");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(mbs, "c@x.com"), "run_id")), "r1");
    assert_string_equal(json_string_value(json_object_get(m, "last_meeting_start")),
                        "2026-11-05T00:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(m, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(m, "run_id")), "r2");
    json_decref(m);
    checkpoint_dispose(&cp);
}

static json_t *entry_of(json_t *doc, const char *obj, const char *upn)
{
    return json_object_get(json_object_get(doc, obj), upn);
}

static void assert_streak(json_t *e, const char *since, json_int_t runs)
{
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "failing_since")), since);
    assert_int_equal(json_integer_value(json_object_get(e, "failed_runs")), runs);
}

static void assert_no_streak(json_t *e)
{
    assert_non_null(e);
    assert_null(json_object_get(e, "failing_since"));
    assert_null(json_object_get(e, "failed_runs"));
}

/* Merges up into the document text and parses the result back into *out. */
static void merge_text(const char *doc, const checkpoint_update *up, size_t n, const char *run_id,
                       const char *run_start, checkpoint *out)
{
    checkpoint cp = {0};
    cp.legacy_watermark = INT64_MIN;
    errinfo e = {0};
    if (doc)
        assert_int_equal(checkpoint_parse(doc, strlen(doc), &cp, &e), ST_OK);
    json_t *m = checkpoint_merge(&cp, up, n, run_id, t(run_start), t(run_start));
    assert_non_null(m);
    char *text = json_dumps(m, 0);
    assert_non_null(text);
    json_decref(m);
    checkpoint_dispose(&cp);
    memset(out, 0, sizeof *out);
    out->legacy_watermark = INT64_MIN;
    assert_int_equal(checkpoint_parse(text, strlen(text), out, &e), ST_OK);
    free(text);
}

/* Three failed runs in a row keep the watermark and count up from the first run's
 * start; a success clears the streak. */
static void test_checkpoint__failing_streak(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"mailboxes\":{"
                      "\"a@x.com\":{\"watermark\":\"2026-11-05T00:00:00Z\",\"run_id\":\"r1\"}}}";
    checkpoint cp = {0}, next = {0};
    checkpoint_update fail = {"a@x.com", t("2026-11-05T00:00:00Z"), 0};
    merge_text(doc, &fail, 1, "20261106T000000Z-000002", "2026-11-06T00:00:00Z", &cp);
    assert_streak(entry_of(cp.doc, "mailboxes", "a@x.com"), "2026-11-06T00:00:00Z", 1);
    assert_string_equal(wm_of(cp.doc, "a@x.com"), "2026-11-05T00:00:00Z");
    for (int i = 2; i <= 3; i++) {
        char start[32], id[40];
        snprintf(start, sizeof start, "2026-11-0%dT00:00:00Z", 5 + i);
        snprintf(id, sizeof id, "2026110%dT000000Z-00000%d", 5 + i, i + 1);
        checkpoint_streak s = checkpoint_failing_next(&cp, "A@X.com", t(start));
        assert_true(s.since_us == t("2026-11-06T00:00:00Z"));
        assert_int_equal(s.runs, i);
        char *text = json_dumps(cp.doc, 0);
        merge_text(text, &fail, 1, id, start, &next);
        free(text);
        checkpoint_dispose(&cp);
        cp = next;
        assert_streak(entry_of(cp.doc, "mailboxes", "a@x.com"), "2026-11-06T00:00:00Z", i);
        assert_string_equal(wm_of(cp.doc, "a@x.com"), "2026-11-05T00:00:00Z");
        assert_string_equal(
            json_string_value(json_object_get(entry_of(cp.doc, "mailboxes", "a@x.com"), "run_id")),
            "r1");
    }
    checkpoint_streak s = checkpoint_failing(&cp, "a@x.com");
    assert_int_equal(s.runs, 3);
    checkpoint_update ok = {"a@x.com", t("2026-11-09T00:00:00Z"), 1};
    char *text = json_dumps(cp.doc, 0);
    merge_text(text, &ok, 1, "20261109T000000Z-000005", "2026-11-09T00:00:00Z", &next);
    free(text);
    checkpoint_dispose(&cp);
    assert_no_streak(entry_of(next.doc, "mailboxes", "a@x.com"));
    assert_string_equal(wm_of(next.doc, "a@x.com"), "2026-11-09T00:00:00Z");
    assert_int_equal(checkpoint_failing(&next, "a@x.com").runs, 0);
    checkpoint_dispose(&next);
}

/* A mailbox that never succeeded has no entry (an entry holds a watermark): its
 * streak lives under "failing" until its first success moves it into "mailboxes". */
static void test_checkpoint__failing_without_watermark(void **state)
{
    (void)state;
    checkpoint cp = {0}, next = {0};
    checkpoint_update fail = {"new@x.com", INT64_MIN, 0};
    merge_text(NULL, &fail, 1, "20261106T000000Z-000001", "2026-11-06T00:00:00Z", &cp);
    assert_null(entry_of(cp.doc, "mailboxes", "new@x.com"));
    assert_streak(entry_of(cp.doc, "failing", "new@x.com"), "2026-11-06T00:00:00Z", 1);
    assert_true(checkpoint_watermark(&cp, "new@x.com") == INT64_MIN);
    char *text = json_dumps(cp.doc, 0);
    merge_text(text, &fail, 1, "20261107T000000Z-000002", "2026-11-07T00:00:00Z", &next);
    free(text);
    checkpoint_dispose(&cp);
    assert_streak(entry_of(next.doc, "failing", "new@x.com"), "2026-11-06T00:00:00Z", 2);
    assert_int_equal(checkpoint_failing(&next, "NEW@x.com").runs, 2);
    checkpoint_update ok = {"new@x.com", t("2026-11-08T00:00:00Z"), 1};
    text = json_dumps(next.doc, 0);
    merge_text(text, &ok, 1, "20261108T000000Z-000003", "2026-11-08T00:00:00Z", &cp);
    free(text);
    checkpoint_dispose(&next);
    assert_null(json_object_get(cp.doc, "failing"));
    assert_no_streak(entry_of(cp.doc, "mailboxes", "new@x.com"));
    assert_string_equal(wm_of(cp.doc, "new@x.com"), "2026-11-08T00:00:00Z");
    checkpoint_dispose(&cp);
}

/* Replicas merging under If-Match: a stale failure (a run that started before the
 * success now in the file) does not start a streak, a success does not end a streak
 * that began after it started, and unknown fields survive. */
static void test_checkpoint__failing_merge_races(void **state)
{
    (void)state;
    const char *doc = "{\"version\":1,\"future\":{\"x\":1},\"mailboxes\":{"
                      "\"a@x.com\":{\"watermark\":\"2026-11-07T00:00:00Z\",\"run_id\":"
                      "\"20261107T000000Z-bbbbbb\","
                      "\"note\":\"kept\"},"
                      "\"b@x.com\":{\"watermark\":\"2026-11-05T00:00:00Z\",\"run_id\":"
                      "\"20261105T000000Z-111111\","
                      "\"failing_since\":\"2026-11-07T00:00:00Z\",\"failed_runs\":1},"
                      "\"c@x.com\":{\"watermark\":\"2026-11-05T00:00:00Z\",\"run_id\":"
                      "\"20261105T000000Z-111111\","
                      "\"failing_since\":\"yesterday\",\"failed_runs\":\"2\"}}}";
    /* this run started 2026-11-06, before the run that wrote a@ and failed b@ */
    checkpoint_update up[] = {{"a@x.com", t("2026-11-05T00:00:00Z"), 0},
                              {"b@x.com", t("2026-11-06T00:00:00Z"), 1},
                              {"c@x.com", t("2026-11-05T00:00:00Z"), 0}};
    checkpoint cp = {0};
    merge_text(doc, up, 3, "20261106T000000Z-aaaaaa", "2026-11-06T00:00:00Z", &cp);
    json_t *a = entry_of(cp.doc, "mailboxes", "a@x.com");
    assert_no_streak(a);
    assert_string_equal(json_string_value(json_object_get(a, "note")), "kept");
    assert_string_equal(wm_of(cp.doc, "a@x.com"), "2026-11-07T00:00:00Z");
    json_t *b = entry_of(cp.doc, "mailboxes", "b@x.com");
    assert_string_equal(wm_of(cp.doc, "b@x.com"), "2026-11-06T00:00:00Z");
    assert_streak(b, "2026-11-07T00:00:00Z", 1);
    /* fields that cannot be read count as no streak: a new one starts */
    assert_streak(entry_of(cp.doc, "mailboxes", "c@x.com"), "2026-11-06T00:00:00Z", 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cp.doc, "future"), "x")),
                     1);
    checkpoint_dispose(&cp);
}

static void test_checkpoint__bad_documents(void **state)
{
    (void)state;
    const char *bad[] = {"not json", "[1,2]", "{\"last_meeting_start\":\"yesterday\"}",
                         "{\"mailboxes\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        checkpoint cp = {0};
        errinfo e = {0};
        assert_int_not_equal(checkpoint_parse(bad[i], strlen(bad[i]), &cp, &e), ST_OK);
        assert_true(strstr(e.msg, "checkpoint") != NULL);
        checkpoint_dispose(&cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint__legacy_file),
        cmocka_unit_test(test_checkpoint__mixed_case_keys),
        cmocka_unit_test(test_checkpoint__bad_entry_ignored),
        cmocka_unit_test(test_checkpoint__per_mailbox),
        cmocka_unit_test(test_checkpoint__merge_keeps_later),
        cmocka_unit_test(test_checkpoint__bad_documents),
        cmocka_unit_test(test_checkpoint__failing_streak),
        cmocka_unit_test(test_checkpoint__failing_without_watermark),
        cmocka_unit_test(test_checkpoint__failing_merge_races),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
