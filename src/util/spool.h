/* An append-only store of bytes that stays in memory while the run's budget allows
 * and moves to a file once it does not: what a mailbox takes in from Graph (events,
 * meetings, reports, records) waits here, as JSON text, until its final snapshot is
 * composed.
 *
 * The budget is shared by every spool of a run: when holding one more append in
 * memory would pass it, the appending spool writes what it holds to a file in the
 * run's temporary folder and goes on there. Spill files are unlinked as soon as they
 * are created, so none is left behind on any exit path, a signal or a kill included;
 * the budget counts their bytes on disk and the peak.
 *
 * Ownership: the caller owns the spool struct and the budget (which outlives its
 * spools); spool_dispose releases the memory and closes the file (safe to repeat). */
#ifndef TA_SPOOL_H
#define TA_SPOOL_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct spool_budget {
    int64_t limit;           /* bytes all spools may hold in memory */
    int64_t held;            /* bytes they hold now */
    int64_t disk, disk_peak; /* bytes in spill files now, and the most at once */
    int64_t spilled;         /* spools that went to a file */
    const char *dir;         /* where spill files go */
} spool_budget;

typedef struct spool {
    spool_budget *budget;
    char *mem;
    size_t len, alloc;
    int fd; /* -1 until spilled */
    uint64_t size;
} spool;

/* A piece of a spool. */
typedef struct spool_ref {
    uint64_t off, len;
} spool_ref;

void spool_init(spool *s, spool_budget *b);
/* Appends n bytes; *ref (may be NULL) says where they are. */
TA_MUST_USE status spool_append(spool *s, const void *p, size_t n, spool_ref *ref, errinfo *err);
/* Writes the bytes of ref to out. */
TA_MUST_USE status spool_copy(spool *s, spool_ref ref, FILE *out, errinfo *err);
/* Copies the bytes of ref into out (which holds ref.len bytes). */
TA_MUST_USE status spool_read(spool *s, spool_ref ref, char *out, errinfo *err);
void spool_dispose(spool *s);

#endif
