/* Threads that run jobs, started in the order they were given, each handed back to
 * the thread that owns the worker, which finishes it there (worker_collect): for work
 * that would otherwise stall that thread's event loop. The loop also waits on
 * worker_fd, so a job that ends wakes it. With one thread, jobs end in the order
 * given; with more, two jobs may run at once, and end in any order.
 *
 * Ownership: worker_new allocates the worker; worker_free stops it (a job it is
 * running ends first; jobs not started are dropped, and their `done` never runs) and
 * frees it. A job's arg stays the caller's. */
#ifndef TA_WORKER_H
#define TA_WORKER_H

#include <stddef.h>

#include "status.h"

typedef struct worker worker;
typedef void (*worker_fn)(void *arg);
/* A job's work: `thread` is the index (0 to nthreads - 1) of the thread running it, so
 * that each thread can keep memory of its own. */
typedef void (*worker_work_fn)(void *arg, unsigned thread);

/* nthreads: 1 to 8. */
TA_MUST_USE status worker_new(worker **out, unsigned nthreads, errinfo *err);
void worker_free(worker *w);
/* Queues a job: work(arg, thread) on one of the worker's threads, then done(arg) on
 * the owner's, from worker_collect. */
TA_MUST_USE status worker_add(worker *w, worker_work_fn work, worker_fn done, void *arg,
                              errinfo *err);
/* Becomes readable when a job's work ends (an eventfd: wait on it for reading, level
 * or edge triggered; worker_collect empties it). */
int worker_fd(const worker *w);
/* Runs `done` of every job whose work has ended, in the order they ended; returns how
 * many. */
size_t worker_collect(worker *w);
/* Jobs given and not collected yet. */
size_t worker_pending(const worker *w);

#endif
