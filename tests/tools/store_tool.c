/* store_tool: drives the store (store.h) from the command line, for the
 * end-to-end tests against Azurite and a local folder.
 *
 *   store_tool prepare | check | describe
 *   store_tool get NAME OUTFILE
 *   store_tool put NAME INFILE [--content-type T] [--if-match ETAG | --if-none-match]
 *   store_tool put-file NAME INFILE [--content-type T]
 *   store_tool put-async [--content-type T] NAME INFILE [NAME INFILE ...]
 *
 * Storage comes from the job's variables: AZURE_STORAGE_CONNECTION_STRING, or
 * AZURE_STORAGE_ACCOUNT_URL with AZURE_STORAGE_SAS_TOKEN, or ATTENDANCE_OUTPUT_DIR;
 * ATTENDANCE_CONTAINER; IDENTITY_ENDPOINT and IDENTITY_HEADER for a managed
 * identity (or ATTENDANCE_IMDS_ENDPOINT for the VM variant). Only this tool reads
 * STORE_TOOL_SINGLE_MAX and STORE_TOOL_BLOCK_SIZE (bytes), to exercise the block upload with small
 * files. Prints one JSON object per result on stdout: {"status": "ok"|status name, ..., "requests":
 * attempts sent}; exits 0 when all succeeded, 1 otherwise, 2 on usage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "log.h"
#include "store/store.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: store_tool prepare|check|describe | get NAME OUT | put NAME IN "
                    "[--content-type T] [--if-match ETAG|--if-none-match] | put-file NAME IN "
                    "[--content-type T] | put-async [--content-type T] NAME IN...\n");
    return 2;
}

static http_engine *g_eng;

static int emit(status st, const errinfo *err, json_t *extra)
{
    json_t *o = extra ? extra : json_object();
    json_object_set_new(o, "status", json_string(st == ST_OK ? "ok" : status_name(st)));
    if (st != ST_OK && err) {
        json_object_set_new(o, "message", json_string(err->msg));
        json_object_set_new(o, "http_status", json_integer(err->http_status));
    }
    if (g_eng) {
        http_stats hs;
        http_engine_stats(g_eng, &hs);
        json_object_set_new(o, "requests", json_integer((json_int_t)hs.requests));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
    return st == ST_OK ? 0 : 1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b, 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n, NULL) != ST_OK)
            break;
    fclose(f);
    *len = b.len;
    return buf_take(&b);
}

typedef struct async_ctx {
    const char *name;
    int *failures;
} async_ctx;

static void on_put_done(void *ctx, status st, const errinfo *err, const char *etag)
{
    (void)etag;
    async_ctx *a = ctx;
    if (st != ST_OK)
        (*a->failures)++;
    emit(st, err, json_pack("{s:s}", "name", a->name));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    log_setup(LOG_FORMAT_JSON, LOG_WARN);
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.connection_string = (char *)env("AZURE_STORAGE_CONNECTION_STRING");
    cfg.account_url = (char *)env("AZURE_STORAGE_ACCOUNT_URL");
    cfg.sas_token = (char *)env("AZURE_STORAGE_SAS_TOKEN");
    cfg.output_dir = (char *)env("ATTENDANCE_OUTPUT_DIR");
    cfg.container =
        (char *)(env("ATTENDANCE_CONTAINER") ? env("ATTENDANCE_CONTAINER") : "teams-attendance");
    cfg.prefix = (char *)(env("ATTENDANCE_PREFIX") ? env("ATTENDANCE_PREFIX") : "");
    cfg.identity_endpoint = (char *)env("IDENTITY_ENDPOINT");
    cfg.identity_header = (char *)env("IDENTITY_HEADER");
    cfg.imds_endpoint = (char *)env("ATTENDANCE_IMDS_ENDPOINT");
    cfg.http_timeout_s = 10;
    cfg.max_retries = 2;
    cfg.max_retry_wait_s = 1;
    cfg.storage = cfg.output_dir          ? STORAGE_DIR
                  : cfg.connection_string ? STORAGE_CONNECTION_STRING
                  : cfg.account_url       ? STORAGE_ACCOUNT_URL
                                          : STORAGE_NONE;

    http_limits lim;
    http_limits_default(&lim);
    lim.max_retries = 2;
    lim.base_backoff_ms = 100;
    lim.max_retry_wait_ms = 1000;
    lim.timeout_ms = 30000;
    errinfo err = {0};
    store *s = NULL;
    int rc = 1;
    if (http_engine_new(&g_eng, &lim, &err) != ST_OK)
        return emit(err.code, &err, NULL);
    status st = store_open(&s, &cfg, g_eng, &err);
    if (st != ST_OK) {
        rc = emit(st, &err, NULL);
        goto out;
    }
    size_t single =
        env("STORE_TOOL_SINGLE_MAX") ? strtoull(env("STORE_TOOL_SINGLE_MAX"), NULL, 10) : 0;
    size_t block =
        env("STORE_TOOL_BLOCK_SIZE") ? strtoull(env("STORE_TOOL_BLOCK_SIZE"), NULL, 10) : 0;
    store_set_upload_sizes(s, single, block);

    const char *cmd = argv[1];
    const char *ctype = NULL, *etag = NULL;
    store_cond cond = STORE_COND_NONE;
    /* options may come anywhere after the command; the rest are positional */
    char *pos[64];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--content-type") && i + 1 < argc) {
            ctype = argv[++i];
        } else if (!strcmp(argv[i], "--if-match") && i + 1 < argc) {
            cond = STORE_COND_IF_MATCH;
            etag = argv[++i];
        } else if (!strcmp(argv[i], "--if-none-match")) {
            cond = STORE_COND_IF_NONE_MATCH;
        } else if (npos < 64) {
            pos[npos++] = argv[i];
        }
    }

    if (!strcmp(cmd, "prepare") && npos == 0) {
        st = store_prepare(s, &err);
        rc = emit(st, &err, NULL);
    } else if (!strcmp(cmd, "check") && npos == 0) {
        st = store_check(s, &err);
        rc = emit(st, &err, NULL);
    } else if (!strcmp(cmd, "describe") && npos == 0) {
        rc = emit(ST_OK, NULL, json_pack("{s:s}", "describe", store_describe(s)));
    } else if (!strcmp(cmd, "get") && npos == 2) {
        buf b;
        buf_init(&b, 0);
        char tag[STORE_ETAG_MAX];
        st = store_get(s, pos[0], &b, tag, &err);
        if (st == ST_OK) {
            FILE *f = fopen(pos[1], "wb");
            if (!f || fwrite(b.data, 1, b.len, f) != b.len)
                st = err_set(&err, ST_IO, "cannot write %s", pos[1]);
            if (f)
                fclose(f);
        }
        rc = emit(st, &err,
                  st == ST_OK ? json_pack("{s:s,s:I}", "etag", tag, "bytes", (json_int_t)b.len)
                              : NULL);
        buf_dispose(&b);
    } else if (!strcmp(cmd, "put") && npos == 2) {
        size_t len;
        char *data = slurp(pos[1], &len);
        if (!data) {
            st = err_set(&err, ST_IO, "cannot read %s", pos[1]);
            rc = emit(st, &err, NULL);
        } else {
            char tag[STORE_ETAG_MAX];
            st = store_put(s, pos[0], data, len, ctype, cond, etag, tag, &err);
            rc = emit(st, &err, st == ST_OK ? json_pack("{s:s}", "etag", tag) : NULL);
            free(data);
        }
    } else if (!strcmp(cmd, "put-file") && npos == 2) {
        size_t bytes = 0;
        st = store_put_file(s, pos[0], pos[1], ctype, &bytes, &err);
        rc = emit(st, &err, st == ST_OK ? json_pack("{s:I}", "bytes", (json_int_t)bytes) : NULL);
    } else if (!strcmp(cmd, "put-async") && npos >= 2 && npos % 2 == 0) {
        int failures = 0;
        async_ctx ctxs[32];
        for (int i = 0; i < npos && i / 2 < 32; i += 2) {
            size_t len;
            char *data = slurp(pos[i + 1], &len);
            ctxs[i / 2].name = pos[i];
            ctxs[i / 2].failures = &failures;
            errinfo e = {0};
            if (!data) {
                failures++;
                err_set(&e, ST_IO, "cannot read %s", pos[i + 1]);
                emit(ST_IO, &e, json_pack("{s:s}", "name", pos[i]));
                continue;
            }
            st = store_put_async(s, pos[i], data, len, ctype, STORE_COND_NONE, NULL, on_put_done,
                                 &ctxs[i / 2], &e);
            if (st != ST_OK) {
                failures++;
                emit(st, &e, json_pack("{s:s}", "name", pos[i]));
            }
        }
        st = http_run(g_eng, &err);
        if (st != ST_OK)
            rc = emit(st, &err, NULL);
        else
            rc = failures ? 1 : 0;
    } else {
        rc = usage();
    }
out:
    store_free(s);
    http_engine_free(g_eng);
    return rc;
}
