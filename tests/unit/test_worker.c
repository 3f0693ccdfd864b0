/* util/worker: jobs run in order on another thread, come back in order on the
 * owner's, the descriptor wakes a waiting loop, and a stop drops what did not start;
 * with two threads, two jobs run at once, each told its thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/worker.h"

typedef struct rec {
    int id;
    pthread_t worked_on, done_on;
    int worked, done;
    int *order; /* where done writes its id */
    size_t *norder;
    int sleep_ms;
    unsigned thread;
} rec;

static void work(void *arg, unsigned thread)
{
    rec *r = arg;
    r->thread = thread;
    if (r->sleep_ms)
        usleep((useconds_t)r->sleep_ms * 1000);
    r->worked_on = pthread_self();
    r->worked = 1;
}

static void done(void *arg)
{
    rec *r = arg;
    r->done_on = pthread_self();
    r->done = 1;
    r->order[(*r->norder)++] = r->id;
}

static void test_worker__order_and_threads(void **state)
{
    (void)state;
    worker *w;
    errinfo e = {0};
    assert_int_equal(worker_new(&w, 1, &e), ST_OK);
    int order[8];
    size_t norder = 0;
    rec r[8] = {0};
    for (int i = 0; i < 8; i++) {
        r[i] = (rec){.id = i, .order = order, .norder = &norder, .sleep_ms = i == 0 ? 20 : 0};
        assert_int_equal(worker_add(w, work, done, &r[i], &e), ST_OK);
    }
    assert_int_equal(worker_pending(w), 8);
    size_t got = 0;
    while (got < 8) {
        struct pollfd p = {.fd = worker_fd(w), .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        got += worker_collect(w);
    }
    assert_int_equal(worker_pending(w), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(order[i], i); /* the first job was the slowest: still first */
        assert_true(r[i].worked && r[i].done);
        assert_int_equal(r[i].thread, 0);
        assert_false(pthread_equal(r[i].worked_on, pthread_self()));
        assert_true(pthread_equal(r[i].done_on, pthread_self()));
    }
    /* emptied: nothing to wake a loop now */
    struct pollfd p = {.fd = worker_fd(w), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(worker_collect(w), 0);
    worker_free(w);
}

/* A stop lets the running job end and drops the others; no done runs. */
static void test_worker__stop_drops_what_did_not_start(void **state)
{
    (void)state;
    worker *w;
    errinfo e = {0};
    assert_int_equal(worker_new(&w, 1, &e), ST_OK);
    int order[4];
    size_t norder = 0;
    rec r[4] = {0};
    for (int i = 0; i < 4; i++) {
        r[i] = (rec){.id = i, .order = order, .norder = &norder, .sleep_ms = 50};
        assert_int_equal(worker_add(w, work, done, &r[i], &e), ST_OK);
    }
    usleep(10000); /* the first is under way */
    worker_free(w);
    assert_int_equal(r[0].worked, 1);
    assert_int_equal(r[3].worked, 0);
    assert_int_equal(norder, 0);
    worker_free(NULL);
}

/* Two jobs that each wait for the other to start: they end only if both run at once. */
typedef struct meet {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, met;
    unsigned threads[2];
    int n;
} meet;

static void meet_work(void *arg, unsigned thread)
{
    meet *m = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&m->mu);
    m->threads[m->started++] = thread;
    pthread_cond_broadcast(&m->cv);
    while (m->started < 2 && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0)
        ;
    m->met += m->started == 2;
    pthread_mutex_unlock(&m->mu);
}

static void meet_done(void *arg)
{
    ((meet *)arg)->n++;
}

static void test_worker__two_threads_at_once(void **state)
{
    (void)state;
    worker *w;
    errinfo e = {0};
    assert_int_equal(worker_new(&w, 2, &e), ST_OK);
    meet m = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    assert_int_equal(worker_add(w, meet_work, meet_done, &m, &e), ST_OK);
    assert_int_equal(worker_add(w, meet_work, meet_done, &m, &e), ST_OK);
    while (m.n < 2) {
        struct pollfd p = {.fd = worker_fd(w), .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        worker_collect(w);
    }
    assert_int_equal(m.met, 2);
    assert_int_not_equal(m.threads[0], m.threads[1]);
    assert_true(m.threads[0] < 2 && m.threads[1] < 2);
    worker_free(w);
    assert_int_equal(worker_new(&w, 0, &e), ST_INTERNAL);
    assert_int_equal(worker_new(&w, 9, &e), ST_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker__order_and_threads),
        cmocka_unit_test(test_worker__stop_drops_what_did_not_start),
        cmocka_unit_test(test_worker__two_threads_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
