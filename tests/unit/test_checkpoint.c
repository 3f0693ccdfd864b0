/* Checkpoint parsing and merging (SPEC section 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void test_checkpoint__legacy_file(void **state)
{
    (void)state;
    const char *old = "{\"last_meeting_start\": \"2026-11-01T09:00:00Z\"}";
    checkpoint cp = {0};
    errinfo e = {0};
    assert_int_equal(checkpoint_parse(old, strlen(old), &cp, &e), ST_OK);
    assert_true(checkpoint_watermark(&cp, "Anyone@Contoso.com") == t("2026-11-01T09:00:00Z"));
    checkpoint_free(&cp);
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
    checkpoint_free(&cp);
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
    json_t *m = checkpoint_merge(&cp, up, 3, "r2", t("2026-11-28T00:00:00Z"));
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
    checkpoint_free(&cp);
}

static void test_checkpoint__bad_documents(void **state)
{
    (void)state;
    const char *bad[] = {"not json", "[1,2]", "{\"mailboxes\":{\"a\":{\"watermark\":5}}}",
                         "{\"last_meeting_start\":\"yesterday\"}", "{\"mailboxes\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        checkpoint cp = {0};
        errinfo e = {0};
        assert_int_not_equal(checkpoint_parse(bad[i], strlen(bad[i]), &cp, &e), ST_OK);
        assert_true(strstr(e.msg, "checkpoint") != NULL);
        checkpoint_free(&cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint__legacy_file),
        cmocka_unit_test(test_checkpoint__per_mailbox),
        cmocka_unit_test(test_checkpoint__merge_keeps_later),
        cmocka_unit_test(test_checkpoint__bad_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
