/* The local folder sink, directly and through store.h: atomic writes, content
 * ETags, If-None-Match and If-Match (also between processes), name checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/localdir.h"
#include "store/store.h"

typedef struct fixture {
    char root[64];
    char out[96]; /* the sink's folder, not created yet */
    localdir *d;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->root, "/tmp/test_localdir.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->out, sizeof f->out, "%s/out/", f->root);
    errinfo err = {0};
    if (localdir_open(&f->d, f->out, &err) != ST_OK)
        return -1;
    *state = f;
    return 0;
}

static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *e;
        while (dir && (e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (dir)
            closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    localdir_free(f->d);
    rm_rf(f->root);
    free(f);
    return 0;
}

/* Counts the files under path whose name starts with '.' (temporary files). */
static int count_hidden(const char *path)
{
    int n = 0;
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat sb;
        if (e->d_name[0] == '.')
            n++;
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            n += count_hidden(sub);
    }
    if (dir)
        closedir(dir);
    return n;
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void test_localdir__put_get_round_trip(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    assert_int_equal(localdir_prepare(f->d, &err), ST_OK);
    char etag[STORE_ETAG_MAX], etag2[STORE_ETAG_MAX];
    const char *body = "{\"a\":1}\n";
    assert_int_equal(localdir_put(f->d, "raw/events/date=2026-11-28/user=a@b.com/x.json", body,
                                  strlen(body), STORE_COND_NONE, NULL, etag, &err),
                     ST_OK);
    /* a quoted hash of the content: the SHA-256 of the body, first 16 bytes */
    assert_string_equal(etag, "\"e346432021b04179518d9614f3560ccd\"");

    char path[256], got[64];
    snprintf(path, sizeof path, "%sraw/events/date=2026-11-28/user=a@b.com/x.json", f->out);
    read_file(path, got, sizeof got);
    assert_string_equal(got, body);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    mode_t mask = umask(0);
    umask(mask);
    /* personal data: 0640, and its folder 0750, or less under a stricter umask */
    assert_int_equal(sb.st_mode & 0777, 0640 & ~mask);
    char dir[256];
    snprintf(dir, sizeof dir, "%sraw/events/date=2026-11-28/user=a@b.com", f->out);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0750 & ~mask);

    buf b;
    buf_init(&b, 0);
    assert_int_equal(
        localdir_get(f->d, "raw/events/date=2026-11-28/user=a@b.com/x.json", &b, etag2, &err),
        ST_OK);
    assert_int_equal(b.len, strlen(body));
    assert_memory_equal(b.data, body, b.len);
    assert_string_equal(etag, etag2);

    /* overwrite: new content, new ETag, no temporary file left behind */
    assert_int_equal(localdir_put(f->d, "raw/events/date=2026-11-28/user=a@b.com/x.json", "", 0,
                                  STORE_COND_NONE, NULL, etag2, &err),
                     ST_OK);
    assert_string_not_equal(etag, etag2);
    assert_int_equal(
        localdir_get(f->d, "raw/events/date=2026-11-28/user=a@b.com/x.json", &b, NULL, &err),
        ST_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(count_hidden(f->root), 0);
    buf_dispose(&b);
}

static void test_localdir__get_missing_is_not_found(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    buf b;
    buf_init(&b, 0);
    char etag[STORE_ETAG_MAX] = "x";
    assert_int_equal(localdir_get(f->d, "registry/checkpoint.json", &b, etag, &err), ST_NOT_FOUND);
    assert_string_equal(etag, "");
    assert_non_null(strstr(err.msg, "registry/checkpoint.json"));
    buf_dispose(&b);
}

static void test_localdir__get_respects_buffer_cap(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    char data[1000];
    memset(data, 'x', sizeof data);
    assert_int_equal(
        localdir_put(f->d, "big", data, sizeof data, STORE_COND_NONE, NULL, NULL, &err), ST_OK);
    buf b;
    buf_init(&b, 100);
    assert_int_equal(localdir_get(f->d, "big", &b, NULL, &err), ST_TOO_LARGE);
    buf_dispose(&b);

    /* a file of exactly the cap, and one of half of it with a 64 KiB cap, are read */
    static char exact[65536];
    memset(exact, 'y', sizeof exact);
    for (size_t n = sizeof exact / 2; n <= sizeof exact; n += sizeof exact / 2) {
        err_clear(&err);
        assert_int_equal(localdir_put(f->d, "exact", exact, n, STORE_COND_NONE, NULL, NULL, &err),
                         ST_OK);
        buf_init(&b, sizeof exact);
        assert_int_equal(localdir_get(f->d, "exact", &b, NULL, &err), ST_OK);
        assert_int_equal(b.len, n);
        buf_dispose(&b);
    }
    err_clear(&err);
    assert_int_equal(
        localdir_put(f->d, "exact", exact, sizeof exact, STORE_COND_NONE, NULL, NULL, &err), ST_OK);
    buf_init(&b, sizeof exact - 1);
    assert_int_equal(localdir_get(f->d, "exact", &b, NULL, &err), ST_TOO_LARGE);
    buf_dispose(&b);
}

static void test_localdir__if_none_match(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    char etag[STORE_ETAG_MAX];
    assert_int_equal(localdir_put(f->d, "registry/checkpoint.json", "one", 3,
                                  STORE_COND_IF_NONE_MATCH, NULL, etag, &err),
                     ST_OK);
    assert_int_equal(localdir_put(f->d, "registry/checkpoint.json", "two", 3,
                                  STORE_COND_IF_NONE_MATCH, NULL, etag, &err),
                     ST_CONFLICT);
    assert_string_equal(etag, "");
    buf b;
    buf_init(&b, 0);
    assert_int_equal(localdir_get(f->d, "registry/checkpoint.json", &b, NULL, &err), ST_OK);
    assert_string_equal(b.data, "one");
    assert_int_equal(count_hidden(f->root), 0);
    buf_dispose(&b);
}

static void test_localdir__if_match(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    char e1[STORE_ETAG_MAX], e2[STORE_ETAG_MAX], e3[STORE_ETAG_MAX];
    /* on a missing file */
    assert_int_equal(localdir_put(f->d, "c.json", "x", 1, STORE_COND_IF_MATCH, "\"abc\"", e1, &err),
                     ST_PRECONDITION);
    err_clear(&err);
    assert_int_equal(localdir_put(f->d, "c.json", "one", 3, STORE_COND_NONE, NULL, e1, &err),
                     ST_OK);
    assert_int_equal(localdir_put(f->d, "c.json", "two", 3, STORE_COND_IF_MATCH, e1, e2, &err),
                     ST_OK);
    /* e1 is stale now */
    assert_int_equal(localdir_put(f->d, "c.json", "three", 5, STORE_COND_IF_MATCH, e1, e3, &err),
                     ST_PRECONDITION);
    assert_non_null(strstr(err.msg, "changed since it was read"));
    buf b;
    buf_init(&b, 0);
    assert_int_equal(localdir_get(f->d, "c.json", &b, e3, &err), ST_OK);
    assert_string_equal(b.data, "two");
    assert_string_equal(e2, e3);
    assert_int_equal(count_hidden(f->root), 0);
    buf_dispose(&b);
}

/* Eight processes try If-Match with the same ETag at once: exactly one wins. */
static void test_localdir__if_match_between_processes(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    char e0[STORE_ETAG_MAX];
    assert_int_equal(
        localdir_put(f->d, "registry/checkpoint.json", "start", 5, STORE_COND_NONE, NULL, e0, &err),
        ST_OK);
    enum { N = 8 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            localdir *d;
            errinfo e = {0};
            char body[32];
            int n = snprintf(body, sizeof body, "writer %d", i);
            if (localdir_open(&d, f->out, &e) != ST_OK)
                _exit(3);
            status st = localdir_put(d, "registry/checkpoint.json", body, (size_t)n,
                                     STORE_COND_IF_MATCH, e0, NULL, &e);
            localdir_free(d);
            _exit(st == ST_OK ? 0 : st == ST_PRECONDITION ? 1 : 2);
        }
    }
    int winners = 0, losers = 0;
    for (int i = 0; i < N; i++) {
        int ws;
        assert_int_equal(waitpid(pids[i], &ws, 0), pids[i]);
        assert_true(WIFEXITED(ws));
        if (WEXITSTATUS(ws) == 0)
            winners++;
        else if (WEXITSTATUS(ws) == 1)
            losers++;
    }
    assert_int_equal(winners, 1);
    assert_int_equal(losers, N - 1);
    buf b;
    buf_init(&b, 0);
    assert_int_equal(localdir_get(f->d, "registry/checkpoint.json", &b, NULL, &err), ST_OK);
    assert_memory_equal(b.data, "writer ", 7);
    assert_int_equal(count_hidden(f->root), 0);
    buf_dispose(&b);
}

static void test_localdir__put_file_copies(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    char src[128];
    snprintf(src, sizeof src, "%s/src.bin", f->root);
    size_t n = (3u << 20) + 12345; /* several copy chunks and a partial one */
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    FILE *fp = fopen(src, "wb");
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
    size_t bytes = 0;
    assert_int_equal(localdir_put_file(f->d, "parquet/events/ingest_date=2026-11-28/r.parquet", src,
                                       &bytes, &err),
                     ST_OK);
    assert_int_equal(bytes, n);
    buf b;
    buf_init(&b, 0);
    assert_int_equal(
        localdir_get(f->d, "parquet/events/ingest_date=2026-11-28/r.parquet", &b, NULL, &err),
        ST_OK);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, data, n);
    err_clear(&err);
    assert_int_equal(localdir_put_file(f->d, "x", "/nonexistent/file", &bytes, &err), ST_IO);
    assert_int_equal(bytes, 0);
    assert_int_equal(count_hidden(f->root), 0);
    buf_dispose(&b);
    free(data);
}

/* On the folder's filesystem the file is linked in, not copied: the same inode, the
 * folder's mode, the caller's name kept. From another filesystem (/dev/shm, a tmpfs
 * when there is one) it is copied. Either way no temporary name is left. */
static void test_localdir__put_file_links(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    const char *dirs[] = {f->root, "/dev/shm"};
    for (int k = 0; k < 2; k++) {
        struct stat root_sb, shm_sb;
        if (k == 1 && (stat("/dev/shm", &shm_sb) != 0 || stat(f->root, &root_sb) != 0 ||
                       shm_sb.st_dev == root_sb.st_dev || access("/dev/shm", W_OK) != 0))
            break; /* no other filesystem to copy from */
        char src[160];
        snprintf(src, sizeof src, "%s/ta-src-%d.bin", dirs[k], (int)getpid());
        FILE *fp = fopen(src, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite("0123456789", 1, 10, fp), 10);
        fclose(fp);
        chmod(src, 0600);
        size_t bytes = 0;
        assert_int_equal(localdir_put_file(f->d, "snap/a.json", src, &bytes, &err), ST_OK);
        assert_int_equal(bytes, 10);
        char out[160];
        snprintf(out, sizeof out, "%ssnap/a.json", f->out);
        struct stat so, ss;
        assert_int_equal(stat(out, &so), 0);
        assert_int_equal(stat(src, &ss), 0); /* the caller's file stays */
        assert_int_equal(so.st_size, 10);
        if (k == 0)
            assert_true(so.st_ino == ss.st_ino);
        else
            assert_true(so.st_ino != ss.st_ino || so.st_dev != ss.st_dev);
        mode_t mask = umask(022);
        umask(mask);
        assert_int_equal(so.st_mode & 0777, 0640 & ~mask);
        buf b;
        buf_init(&b, 0);
        assert_int_equal(localdir_get(f->d, "snap/a.json", &b, NULL, &err), ST_OK);
        assert_int_equal(b.len, 10);
        assert_memory_equal(b.data, "0123456789", 10);
        buf_dispose(&b);
        assert_int_equal(count_hidden(f->root), 0);
        unlink(src);
    }
}

static void test_localdir__check(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    struct stat sb;
    /* missing but creatable: fine, and nothing is created */
    assert_int_equal(localdir_check(f->d, &err), ST_OK);
    assert_int_not_equal(stat(f->out, &sb), 0);
    assert_int_equal(localdir_prepare(f->d, &err), ST_OK);
    assert_int_equal(stat(f->out, &sb), 0);
    assert_int_equal(localdir_check(f->d, &err), ST_OK);

    /* a file where the folder should be */
    char file[128];
    snprintf(file, sizeof file, "%s/afile", f->root);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    localdir *d;
    assert_int_equal(localdir_open(&d, file, &err), ST_OK);
    assert_int_equal(localdir_check(d, &err), ST_IO);
    assert_non_null(strstr(err.msg, "not a folder"));
    err_clear(&err);
    assert_int_equal(localdir_prepare(d, &err), ST_IO);
    localdir_free(d);

    /* below a file: cannot be created */
    char below[160];
    snprintf(below, sizeof below, "%s/sub/dir", file);
    assert_int_equal(localdir_open(&d, below, &err), ST_OK);
    err_clear(&err);
    assert_int_equal(localdir_check(d, &err), ST_IO);
    localdir_free(d);
}

static char done_etag[STORE_ETAG_MAX];

static void on_done(void *ctx, status st, const errinfo *err, const char *etag)
{
    (void)err;
    *(int *)ctx = 100 + (int)st;
    snprintf(done_etag, sizeof done_etag, "%s", etag);
}

static char got_body[64];

static void on_got(void *ctx, status st, const errinfo *err, buf *body, const char *etag)
{
    (void)err;
    (void)etag;
    *(int *)ctx = 100 + (int)st;
    snprintf(got_body, sizeof got_body, "%s", body && body->data ? body->data : "");
}

/* Through store.h: the folder sink, name checks, the async put and get. */
static void test_localdir__store_interface(void **state)
{
    fixture *f = *state;
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.storage = STORAGE_DIR;
    cfg.output_dir = f->out;
    store *s;
    errinfo err = {0};
    assert_int_equal(store_open(&s, &cfg, NULL, &err), ST_OK);
    char want[128];
    snprintf(want, sizeof want, "%s/out", f->root);
    assert_string_equal(store_describe(s), want);
    assert_int_equal(store_prepare(s, &err), ST_OK);
    assert_int_equal(store_check(s, &err), ST_OK);

    static const char *const bad[] = {"",      "/abs", "a//b", "a/../b", "..",
                                      "a/./b", "a/",   "a\\b", "a\nb",   "./a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        assert_int_not_equal(store_put(s, bad[i], "x", 1, NULL, STORE_COND_NONE, NULL, NULL, &err),
                             ST_OK);
    }
    err_clear(&err);
    int called = 0;
    char *data = strdup("async body");
    assert_int_equal(store_put_async(s, "a b/é=1/x.json", data, 10, "application/json",
                                     STORE_COND_NONE, NULL, on_done, &called, &err),
                     ST_OK);
    assert_int_equal(called, 100 + ST_OK);
    assert_true(done_etag[0] != '\0');
    /* a condition that does not hold: the callback says so */
    assert_int_equal(store_put_async(s, "a b/é=1/x.json", strdup("other"), 5, NULL,
                                     STORE_COND_IF_NONE_MATCH, NULL, on_done, &called, &err),
                     ST_OK);
    assert_int_equal(called, 100 + ST_CONFLICT);
    assert_string_equal(done_etag, "");
    assert_int_equal(store_get_async(s, "a b/é=1/x.json", 1024, on_got, &called, &err), ST_OK);
    assert_int_equal(called, 100 + ST_OK);
    assert_string_equal(got_body, "async body");
    assert_int_equal(store_get_async(s, "a b/none.json", 1024, on_got, &called, &err), ST_OK);
    assert_int_equal(called, 100 + ST_NOT_FOUND);
    buf b;
    buf_init(&b, 0);
    char etag[STORE_ETAG_MAX];
    assert_int_equal(store_get(s, "a b/é=1/x.json", &b, etag, &err), ST_OK);
    assert_string_equal(b.data, "async body");
    assert_int_equal(
        store_put(s, "a b/é=1/x.json", "new", 3, NULL, STORE_COND_IF_MATCH, etag, etag, &err),
        ST_OK);
    store_set_upload_sizes(s, 1, 1); /* no effect on a folder */
    buf_dispose(&b);
    store_free(s);
    store_free(NULL);
}

typedef struct seen {
    char names[16][128];
    uint64_t sizes[16];
    int n;
} seen;

static status collect(void *ctx, const char *name, uint64_t size, errinfo *err)
{
    seen *s = ctx;
    if (s->n >= 16)
        return err_set(err, ST_LIMIT, "too many");
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->sizes[s->n++] = size;
    return ST_OK;
}

static int seen_has(const seen *s, const char *name, uint64_t size)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0 && s->sizes[i] == size)
            return 1;
    return 0;
}

/* Listing by prefix (folders walked, dot files and other prefixes left out),
 * deleting (twice: gone counts as done), copying a file out. */
static void test_localdir__list_delete_get_file(void **state)
{
    fixture *f = *state;
    errinfo err = {0};
    const char *names[] = {"p/parquet/events/ingest_date=2026-10-01/a.parquet",
                           "p/parquet/events/month=2026-09/compacted-x.parquet",
                           "p/parquet/events2/ingest_date=2026-10-01/b.parquet",
                           "p/raw/final/x.json"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(
            localdir_put(f->d, names[i], "abcdef", i + 1, STORE_COND_NONE, NULL, NULL, &err),
            ST_OK);
    char dot[256];
    snprintf(dot, sizeof dot, "%s/p/parquet/events/ingest_date=2026-10-01/.a.parquet.tmp", f->out);
    FILE *fp = fopen(dot, "wb");
    assert_non_null(fp);
    fclose(fp);
    seen s = {0};
    assert_int_equal(localdir_list(f->d, "p/parquet/events/", collect, &s, &err), ST_OK);
    assert_int_equal(s.n, 2);
    assert_true(seen_has(&s, names[0], 1));
    assert_true(seen_has(&s, names[1], 2));
    s = (seen){0};
    assert_int_equal(localdir_list(f->d, "nothing/here/", collect, &s, &err), ST_OK);
    assert_int_equal(s.n, 0);

    char out[256];
    snprintf(out, sizeof out, "%s/copy", f->root);
    uint64_t bytes = 0;
    assert_int_equal(localdir_get_file(f->d, names[2], out, &bytes, &err), ST_OK);
    assert_int_equal(bytes, 3);
    assert_int_equal(localdir_get_file(f->d, "p/none", out, &bytes, &err), ST_NOT_FOUND);
    err_clear(&err);

    assert_int_equal(localdir_delete(f->d, names[0], &err), ST_OK);
    assert_int_equal(localdir_delete(f->d, names[0], &err), ST_OK);
    s = (seen){0};
    assert_int_equal(localdir_list(f->d, "p/parquet/", collect, &s, &err), ST_OK);
    assert_int_equal(s.n, 2);
    assert_false(seen_has(&s, names[0], 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_localdir__put_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__get_missing_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__get_respects_buffer_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__if_none_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__if_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__if_match_between_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__put_file_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__put_file_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__store_interface, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localdir__list_delete_get_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
