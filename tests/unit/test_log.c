/* Logging: one JSON object per line with time, level, msg and the fields; text
 * lines; levels; and registered secrets never printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "secret.h"

/* Runs fn with stderr sent to a file; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    rewind(tmp);
    char *out = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

static void write_json(void)
{
    log_setup(LOG_FORMAT_JSON, LOG_INFO);
    log_debug("hidden", json_pack("{s:s}", "k", "v"));
    log_info("mailbox done", json_pack("{s:s,s:i}", "upn", "ann@contoso.com", "events", 3));
}

static void test_log__json_lines(void **state)
{
    (void)state;
    char *out = capture(write_json);
    assert_null(strstr(out, "hidden"));
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
    json_error_t je;
    json_t *j = json_loadb(out, (size_t)(nl - out), 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "mailbox done");
    assert_string_equal(json_string_value(json_object_get(j, "upn")), "ann@contoso.com");
    assert_int_equal(json_integer_value(json_object_get(j, "events")), 3);
    const char *t = json_string_value(json_object_get(j, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24); /* 2026-11-28T17:34:00.123Z */
    assert_int_equal(t[23], 'Z');
    json_decref(j);
    free(out);
}

static void write_secret(void)
{
    log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
    secret_add("s3cr3t-value");
    log_error("token request failed",
              json_pack("{s:s}", "error", "client_secret=s3cr3t-value was refused"));
    log_setup(LOG_FORMAT_TEXT, LOG_DEBUG);
    log_warn("again s3cr3t-value", json_pack("{s:s}", "detail", "xs3cr3t-valuex"));
}

static void test_log__secrets_scrubbed(void **state)
{
    (void)state;
    char *out = capture(write_secret);
    assert_null(strstr(out, "s3cr3t"));
    assert_non_null(strstr(out, "[REDACTED]"));
    assert_non_null(strstr(out, "token request failed"));
    assert_non_null(strstr(out, " warn  again"));
    secret_forget();
    free(out);
}

static void test_log__levels(void **state)
{
    (void)state;
    log_level l;
    assert_int_equal(log_level_parse("WARNING", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_not_equal(log_level_parse("verbose", &l), 0);
}

/* The hook runs around every line written (the terminal progress line clears and
 * redraws itself there), and not for a line below the level. */
static void hook(void *ctx, int before)
{
    (void)ctx;
    fputs(before ? "<" : ">", stderr);
}

static void write_hooked(void)
{
    log_setup(LOG_FORMAT_TEXT, LOG_INFO);
    log_set_hook(hook, NULL);
    log_info("one", NULL);
    log_debug("hidden", NULL);
    log_set_hook(NULL, NULL);
    log_info("two", NULL);
}

static void test_log__hook(void **state)
{
    (void)state;
    char *out = capture(write_hooked);
    assert_int_equal(out[0], '<');
    char *one = strstr(out, " one\n>");
    assert_non_null(one);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(one, " two\n"));
    assert_null(strchr(one + 6, '<'));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log__json_lines),
        cmocka_unit_test(test_log__secrets_scrubbed),
        cmocka_unit_test(test_log__levels),
        cmocka_unit_test(test_log__hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
