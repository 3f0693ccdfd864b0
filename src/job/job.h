/* The commands that talk to Graph and storage: `run` (incremental or a backfill
 * window) and `check`. Each returns the process exit status of SPEC section 8
 * (0, 1; configuration errors were caught before, by config_load). */
#ifndef TA_JOB_H
#define TA_JOB_H

#include "config.h"

int job_run(const config *cfg);
int job_check(const config *cfg);

#endif
