/* The commands that talk to Graph and storage: `run` (incremental or a backfill
 * window), `check` and `audit`. Each returns the process exit status of docs/behaviour.md
 * (0, 1; configuration errors were caught before, by config_load and
 * job_check_settings). */
#ifndef TA_JOB_H
#define TA_JOB_H

#include "config.h"

/* The settings that the modules behind the job own (the storage driver's), checked
 * after config_load and before any network call: ST_CONFIG names the bad setting
 * (exit status 2). */
TA_MUST_USE status job_check_settings(const config *cfg, errinfo *err);
int job_run(const config *cfg);
int job_check(const config *cfg);
/* Compares, per mailbox, the attendance reports Graph lists with the landed ids of its
 * registry file, and prints what is missing; writes nothing (audit.c). */
int job_audit(const config *cfg);
/* Merges each month of each table's Parquet files before cfg->compact_before_us into
 * one file (compact.c, docs/operations.md); 0 done, 1 a month failed (named), 2 a
 * bad --table or storage setting. */
int job_compact(const config *cfg);

#endif
