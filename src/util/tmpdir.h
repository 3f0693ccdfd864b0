/* The run's temporary folder: {base}/teams-attendance-XXXXXX, mode 0700, its files
 * 0600, held with an flock() for as long as the run lives. A run that dies (killed,
 * out of memory) cannot remove its folder; the next run on the machine finds it by
 * its free lock and removes it (tmpdir_sweep).
 *
 * Ownership: tmpdir_open fills a caller-owned tmpdir; tmpdir_close removes the
 * files it named and the folder, and releases the lock (safe to repeat). */
#ifndef TA_TMPDIR_H
#define TA_TMPDIR_H

#include <stddef.h>

#include "status.h"

typedef struct tmpdir {
    char path[4096]; /* "" when none */
    int lock_fd;     /* -1 when none */
} tmpdir;

#define TMPDIR_PREFIX "teams-attendance-"

TA_MUST_USE status tmpdir_open(tmpdir *t, const char *base, errinfo *err);
/* Creates (truncates) the file `name` inside, mode 0600, for reading and writing; returns
 * its fd or -1 with err set. */
int tmpdir_create(tmpdir *t, const char *name, errinfo *err);
/* The full path of `name` inside, into out; 0 on success, -1 when it does not fit. */
int tmpdir_file(const tmpdir *t, const char *name, char *out, size_t n);
void tmpdir_close(tmpdir *t);
/* Removes the folders of dead runs under base (those whose lock is free); returns how
 * many it removed. */
int tmpdir_sweep(const char *base);

#endif
