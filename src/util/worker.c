/* Threads and two lists under one mutex: see worker.h. */
#include "util/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct job {
    worker_work_fn work;
    worker_fn done;
    void *arg;
    struct job *next;
} job;

/* A list that keeps its order: taken from the head, added at the tail. */
typedef struct job_list {
    job *head, **tail;
} job_list;

#define WORKER_MAX_THREADS 8

typedef struct thread_arg {
    struct worker *w;
    unsigned index;
} thread_arg;

struct worker {
    pthread_t thread[WORKER_MAX_THREADS];
    thread_arg args[WORKER_MAX_THREADS];
    unsigned nthreads;
    pthread_mutex_t mu;
    pthread_cond_t more;
    job_list todo, ended; /* under mu */
    int stop;             /* under mu */
    size_t pending;       /* the owner's alone */
    int efd;
};

static void list_init(job_list *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void list_push(job_list *l, job *j)
{
    j->next = NULL;
    *l->tail = j;
    l->tail = &j->next;
}

static job *list_pop(job_list *l)
{
    job *j = l->head;
    if (j && !(l->head = j->next))
        l->tail = &l->head;
    return j;
}

static void *run_jobs(void *arg)
{
    const thread_arg *ta = arg;
    worker *w = ta->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->todo.head)
            pthread_cond_wait(&w->more, &w->mu);
        if (w->stop)
            break;
        job *j = list_pop(&w->todo);
        pthread_mutex_unlock(&w->mu);
        j->work(j->arg, ta->index);
        pthread_mutex_lock(&w->mu);
        list_push(&w->ended, j);
        uint64_t one = 1;
        /* cannot fail short of a counter at its maximum, which one write a job never reaches */
        while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

status worker_new(worker **out, unsigned nthreads, errinfo *err)
{
    *out = NULL;
    if (nthreads < 1 || nthreads > WORKER_MAX_THREADS)
        return err_set(err, ST_INTERNAL, "a worker of %u threads (1 to %d)", nthreads,
                       WORKER_MAX_THREADS);
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, ST_NOMEM, "out of memory");
    list_init(&w->todo);
    list_init(&w->ended);
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        free(w);
        return err_set(err, ST_INTERNAL, "eventfd: %s", strerror(errno));
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->more, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        w->args[i] = (thread_arg){w, i};
        int rc = pthread_create(&w->thread[i], NULL, run_jobs, &w->args[i]);
        if (rc != 0) {
            worker_free(w); /* stops the threads started */
            return err_set(err, ST_INTERNAL, "cannot start a thread: %s", strerror(rc));
        }
        w->nthreads++;
    }
    *out = w;
    return ST_OK;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->more);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->nthreads; i++)
        pthread_join(w->thread[i], NULL);
    job *j;
    while ((j = list_pop(&w->todo)) != NULL)
        free(j);
    while ((j = list_pop(&w->ended)) != NULL)
        free(j);
    pthread_cond_destroy(&w->more);
    pthread_mutex_destroy(&w->mu);
    close(w->efd);
    free(w);
}

status worker_add(worker *w, worker_work_fn work, worker_fn done, void *arg, errinfo *err)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return err_set(err, ST_NOMEM, "out of memory");
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    list_push(&w->todo, j);
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->mu);
    w->pending++;
    return ST_OK;
}

int worker_fd(const worker *w)
{
    return w->efd;
}

size_t worker_collect(worker *w)
{
    uint64_t n;
    while (read(w->efd, &n, sizeof n) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&w->mu);
    job *ended = w->ended.head;
    list_init(&w->ended);
    pthread_mutex_unlock(&w->mu);
    size_t count = 0;
    while (ended) {
        job *j = ended;
        ended = j->next;
        w->pending--;
        j->done(j->arg);
        free(j);
        count++;
    }
    return count;
}

size_t worker_pending(const worker *w)
{
    return w->pending;
}
