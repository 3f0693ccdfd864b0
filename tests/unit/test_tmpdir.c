/* Unit tests for util/tmpdir: modes, the lock, the sweep of dead runs' folders, and a
 * run that starts while another sweeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/tmpdir.h"

static void test_tmpdir__modes_and_close(void **state)
{
    (void)state;
    char base[] = "/tmp/ta-tmpdir-test-XXXXXX";
    assert_non_null(mkdtemp(base));
    tmpdir t;
    errinfo err = {0};
    assert_int_equal(tmpdir_open(&t, base, &err), ST_OK);
    struct stat sb;
    assert_int_equal(stat(t.path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    int fd = tmpdir_create(&t, "events.parquet", &err);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    char path[4352];
    assert_int_equal(tmpdir_file(&t, "events.parquet", path, sizeof path), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* a live run's folder is never swept */
    assert_int_equal(tmpdir_sweep(base), 0);
    assert_int_equal(stat(t.path, &sb), 0);
    char kept[4096];
    snprintf(kept, sizeof kept, "%s", t.path);
    tmpdir_close(&t);
    assert_int_not_equal(stat(kept, &sb), 0);
    tmpdir_close(&t); /* safe to repeat */
    rmdir(base);
}

static void test_tmpdir__sweep_dead_runs(void **state)
{
    (void)state;
    char base[] = "/tmp/ta-tmpdir-test-XXXXXX";
    assert_non_null(mkdtemp(base));
    /* what a killed run leaves: its folder with a file, and no one holding the lock */
    char dead[4096], file[4200], other[4096];
    snprintf(dead, sizeof dead, "%s/" TMPDIR_PREFIX "dead01", base);
    snprintf(file, sizeof file, "%s/records.parquet", dead);
    snprintf(other, sizeof other, "%s/someone-else", base);
    assert_int_equal(mkdir(dead, 0700), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("half a file", f);
    fclose(f);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(tmpdir_sweep(base), 1);
    struct stat sb;
    assert_int_not_equal(stat(dead, &sb), 0);
    assert_int_equal(stat(other, &sb), 0); /* not ours: left alone */
    rmdir(other);
    rmdir(base);
}

typedef struct sweeper {
    const char *base;
    volatile int stop;
} sweeper;

static void *sweep_loop(void *arg)
{
    sweeper *sw = arg;
    while (!sw->stop)
        (void)tmpdir_sweep(sw->base);
    return NULL;
}

/* Two runs sharing a TMPDIR: one starts while the other sweeps. A folder just made and
 * not yet locked looks like a dead run's; the new run must still get a folder of its
 * own that stays (it once failed with "cannot lock the temporary folder"). */
static void test_tmpdir__open_while_another_sweeps(void **state)
{
    (void)state;
    char base[] = "/tmp/ta-tmpdir-test-XXXXXX";
    assert_non_null(mkdtemp(base));
    sweeper sw = {base, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sweep_loop, &sw), 0);
    for (int i = 0; i < 3000; i++) {
        tmpdir t;
        errinfo err = {0};
        status st = tmpdir_open(&t, base, &err);
        if (st != ST_OK) {
            sw.stop = 1;
            pthread_join(th, NULL);
            fail_msg("open %d: %s", i, err.msg);
        }
        int fd = tmpdir_create(&t, "x", &err);
        if (fd < 0) {
            sw.stop = 1;
            pthread_join(th, NULL);
            fail_msg("create %d: %s", i, err.msg);
        }
        close(fd);
        tmpdir_close(&t);
    }
    sw.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(rmdir(base), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpdir__modes_and_close),
        cmocka_unit_test(test_tmpdir__sweep_dead_runs),
        cmocka_unit_test(test_tmpdir__open_while_another_sweeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
