/* Unit tests for secret: every form a server can echo a secret in is scrubbed; what
 * is no secret is left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "secret.h"
#include "status.h"

#define CLIENT_SECRET "Zq8~very.SECRET-value_1234"
#define JWT_HEAD "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
#define JWT                                                                                        \
    JWT_HEAD ".eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJpc3MiOiJ4In0."                   \
             "c2lnbmF0dXJlX2J5dGVz"
#define ACCOUNT_KEY                                                                                \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define SAS "sv=2024-11-04&se=2026-12-31T00%3A00%3A00Z&sp=rwdlac&sig=AbC%2Bdef%2FGhI123%3D"

static int setup(void **state)
{
    (void)state;
    secret_add(CLIENT_SECRET);
    secret_add(JWT);
    secret_add(ACCOUNT_KEY);
    secret_add_sas(SAS);
    secret_add("hdr-4567");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    secret_forget();
    return 0;
}

static void expect_scrubbed(const char *text, const char *want)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    secret_scrub(buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("scrubbing \"%s\"\n  got  \"%s\"\n  want \"%s\"", text, buf, want);
}

static void test_secret__as_is(void **state)
{
    (void)state;
    expect_scrubbed("client_secret=" CLIENT_SECRET "&x=1", "client_secret=[REDACTED]&x=1");
    expect_scrubbed("Bearer " JWT, "Bearer [REDACTED]");
    expect_scrubbed("key " ACCOUNT_KEY " end", "key [REDACTED] end");
    expect_scrubbed("header hdr-4567.", "header [REDACTED].");
    expect_scrubbed("nothing to see", "nothing to see");
}

static void test_secret__encoded(void **state)
{
    (void)state;
    /* %XX either case, once or twice; '+' is not a '+' but a space in forms */
    expect_scrubbed("s=Zq8%7Every.SECRET-value_1234", "s=[REDACTED]");
    expect_scrubbed("s=Zq8%7every.SECRET-value_1234", "s=[REDACTED]");
    expect_scrubbed("s=Zq8%257Every.SECRET-value_1234", "s=[REDACTED]");
    expect_scrubbed("k=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq%2FK1SZFPTOtr%"
                    "2FKBHBeksoGMGw%3D%3D",
                    "k=[REDACTED]");
    /* JSON-escaped */
    expect_scrubbed("{\"key\":\"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq\\/"
                    "K1SZFPTOtr\\/KBHBeksoGMGw==\"}",
                    "{\"key\":\"[REDACTED]\"}");
    expect_scrubbed("\"Zq8\\u007every.SECRET-value_1234\"", "\"[REDACTED]\"");
    /* every byte %XX-encoded, twice (%25%37%41 is %7A is 'z'): 16 characters of it */
    expect_scrubbed("e=%25%37%36%25%36%35%25%37%32%25%37%39%25%32%65%25%35%33%25%34%35%25%34%33"
                    "%25%35%32%25%34%35%25%35%34%25%32%64%25%37%36%25%36%31%25%36%63%25%37%35!",
                    "e=[REDACTED]!");
    /* a \u00XX escape that was %-encoded */
    expect_scrubbed("e=%5Cu0076ery.SECRET-value_1234", "e=[REDACTED]");
}

static void test_secret__pieces(void **state)
{
    (void)state;
    /* a token cut to a prefix (past the header shared by every JWT) */
    expect_scrubbed("token eyJhdWQiOiJodHRwczovL2dyYXBo...", "token [REDACTED]...");
    /* 16 characters of the client secret */
    expect_scrubbed("echo: very.SECRET-value", "echo: [REDACTED]");
    /* the JWT header alone is every token's: left as it is */
    expect_scrubbed("h=" JWT_HEAD, "h=" JWT_HEAD);
    /* 15 characters are not enough */
    expect_scrubbed("a very.SECRET-val z", "a very.SECRET-val z");
}

static void test_secret__sas_signature_only(void **state)
{
    (void)state;
    /* the signature in any form; the SAS's dates are no secret */
    expect_scrubbed(
        "GET /c?" SAS " 403",
        "GET /c?sv=2024-11-04&se=2026-12-31T00%3A00%3A00Z&sp=rwdlac&sig=[REDACTED] 403");
    expect_scrubbed("sig=AbC+def/GhI123=", "sig=[REDACTED]");
}

/* Error texts are scrubbed where they are made: whatever is echoed into them. */
static void test_secret__error_texts(void **state)
{
    (void)state;
    errinfo e = {0};
    err_set(&e, ST_HTTP, "Graph answered 400: Invalid token %s", "eyJhdWQiOiJodHRwczovL2dyYXBo");
    assert_null(strstr(e.msg, "eyJhdWQiOiJodHRwczovL2dyYXBo"));
    assert_non_null(strstr(e.msg, "[REDACTED]"));
    errinfo p = {0};
    err_set(&p, ST_HTTP, "storage said %s", "sig=AbC%2Bdef%2FGhI123%3D");
    err_prefix(&p, "writing %s", "x");
    assert_null(strstr(p.msg, "AbC"));
}

static void test_secret__cap_and_wipe(void **state)
{
    (void)state;
    char small[12] = "hdr-4567";
    secret_scrub(small, sizeof small);
    assert_string_equal(small, "[REDACTED]");
    char tiny[6] = "hdr-4";
    secret_scrub(tiny, sizeof tiny);
    assert_string_equal(tiny, "hdr-4");
    char w[8] = "abcdefg";
    secret_wipe(w, sizeof w);
    for (size_t i = 0; i < sizeof w; i++)
        assert_int_equal(w[i], 0);
}

static void test_secret__also(void **state)
{
    (void)state;
    /* one more secret known to the caller only (a Shared Key signature) */
    char buf[256] = "HTTP 403: AuthenticationFailed 0123456789abcdefXYZ+/w= and hdr-4567";
    secret_scrub_also(buf, sizeof buf, "0123456789abcdefXYZ+/w=");
    assert_string_equal(buf, "HTTP 403: AuthenticationFailed [REDACTED] and [REDACTED]");
    snprintf(buf, sizeof buf, "MAC '23456789abcdefXY' found");
    secret_scrub_also(buf, sizeof buf, "0123456789abcdefXYZ+/w=");
    assert_string_equal(buf, "MAC '[REDACTED]' found");
    snprintf(buf, sizeof buf, "not registered: 0123456789abcdefXYZ");
    secret_scrub(buf, sizeof buf);
    assert_string_equal(buf, "not registered: 0123456789abcdefXYZ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret__as_is),
        cmocka_unit_test(test_secret__encoded),
        cmocka_unit_test(test_secret__pieces),
        cmocka_unit_test(test_secret__sas_signature_only),
        cmocka_unit_test(test_secret__error_texts),
        cmocka_unit_test(test_secret__cap_and_wipe),
        cmocka_unit_test(test_secret__also),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
