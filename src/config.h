/* Settings: the command line and the environment (the README and docs/behaviour.md), merged
 * and validated before any network call. A flag beats the environment; a variable
 * set to the empty string counts as unset.
 *
 * config_load fills a config from argv and the process environment; on a bad
 * setting it returns ST_CONFIG (ST_USAGE for a bad command line) with a message
 * that names the setting and what is wrong, and never echoes a secret's value.
 * The config owns every string in it; config_dispose releases them (NULL-safe).
 *
 * Every setting is declared once, in the table at the top of config.c: its names,
 * flag, type, bounds, default, help and field. */
#ifndef TA_CONFIG_H
#define TA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "parquet/pq.h"
#include "status.h"

typedef enum command {
    CMD_RUN = 0,
    CMD_CONVERT,
    CMD_CHECK,
    CMD_SCHEMA,
    CMD_AUDIT,
    CMD_HELP,
    CMD_VERSION,
    CMD_COMPACT
} command;

typedef enum storage_kind {
    STORAGE_NONE = 0,
    STORAGE_CONNECTION_STRING, /* AZURE_STORAGE_CONNECTION_STRING */
    STORAGE_ACCOUNT_URL,       /* AZURE_STORAGE_ACCOUNT_URL + SAS token or managed identity */
    STORAGE_DIR                /* ATTENDANCE_OUTPUT_DIR or --output-dir */
} storage_kind;

typedef enum credential_kind {
    CRED_NONE = 0,
    CRED_SECRET,          /* client secret */
    CRED_CERTIFICATE,     /* PEM with key and certificate: signed client assertion */
    CRED_WORKLOAD,        /* federated token file as the client assertion */
    CRED_MANAGED_IDENTITY /* none of the above: a token from the managed identity endpoint */
} credential_kind;

typedef struct config {
    command cmd;

    /* Graph credentials */
    char *tenant;    /* NULL only with CRED_MANAGED_IDENTITY */
    char *client_id; /* the app; with CRED_MANAGED_IDENTITY a user-assigned identity, or NULL */
    credential_kind cred;
    char *client_secret;
    char *cert_path;
    char *federated_token_file;
    char *authority_host; /* no trailing slash */
    char *graph_host;     /* no trailing slash */

    /* mailboxes, merged, duplicates dropped (case-insensitive), order kept */
    char **users;
    size_t nusers;
    size_t nusers_listed; /* users[0..n) came from ATTENDANCE_USERS or --users, the rest
                             from SGA_UPN* */
    char **legacy_users;  /* SGA_UPN and SGA_UPN<n>, lower-cased, even with --users: the
                             old job's mailboxes */
    size_t nlegacy_users;
    char **groups; /* ATTENDANCE_GROUPS or --groups: object ids or mail addresses, duplicates
                      dropped; their transitive members are resolved at run time */
    size_t ngroups;

    /* storage */
    storage_kind storage;
    char *connection_string;
    char *account_url; /* no trailing slash */
    char *sas_token;   /* without a leading '?' */
    char *output_dir;
    char *container;                  /* default "teams-attendance" */
    char *prefix;                     /* "" or ends with '/' ("a/b/") */
    char *identity_endpoint;          /* IDENTITY_ENDPOINT (Container Apps managed identity) */
    char *identity_header;            /* IDENTITY_HEADER */
    char *imds_endpoint;              /* VM metadata token URL (default the well-known address) */
    char *managed_identity_client_id; /* storage's user-assigned identity, or NULL */

    /* window */
    int first_run_days;  /* 30 */
    int overlap_minutes; /* 5 */
    int settle_minutes;  /* 60 */
    int has_since, has_until;
    int64_t since_us, until_us; /* --since / --until, microseconds since the epoch */

    /* files */
    char *tmpdir;         /* ATTENDANCE_TMPDIR, else TMPDIR, else /tmp: spill and temp files */
    char **snapshot_omit; /* ATTENDANCE_SNAPSHOT_OMIT: event fields left out of snapshots */
    size_t nsnapshot_omit;
    int track_days;          /* ATTENDANCE_TRACK_DAYS (30) */
    int claim_lease_minutes; /* ATTENDANCE_CLAIM_LEASE_MINUTES (60) */
    int mailbox_max_mb;      /* ATTENDANCE_MAILBOX_MAX_MB (512): Graph answers one mailbox holds */
    int max_response_mb;     /* ATTENDANCE_MAX_RESPONSE_MB (64): one response's size cap */
    int spill_mb;            /* ATTENDANCE_SPILL_MB (32): Graph data held in memory, in all, before
                                mailboxes spill to tmpdir; 0: at once */

    /* HTTP */
    int concurrency;      /* 256 */
    int http_timeout_s;   /* 60 */
    int max_retries;      /* 6 */
    int max_retry_wait_s; /* 300 */
    int max_pages;        /* 10000 */

    /* Parquet */
    pq_codec codec;       /* snappy */
    int int96_timestamps; /* 0 */

    /* logs */
    log_format log_format;
    log_level log_level;

    /* commands */
    char **inputs; /* convert FILE... */
    size_t ninputs;
    int schema_sql;
    int64_t compact_before_us; /* compact --before DATE: midnight UTC of DATE */
    char *compact_table;       /* compact --table T, or NULL for every table */

    /* scale */
    int shard_index, shard_count; /* shard_count 0: no sharding */
    int claim;
    char *execution_name;      /* CONTAINER_APP_JOB_EXECUTION_NAME, for --claim */
    char *replica_name;        /* CONTAINER_APP_REPLICA_NAME, else the host name (claims) */
    int replica_from_platform; /* replica_name names this replica, not just the machine */
} config;

TA_MUST_USE status config_load(config *cfg, int argc, char **argv, errinfo *err);
void config_dispose(config *cfg);
/* The usage text for --help (the table of settings included). */
const char *config_usage(void);

typedef enum config_doc {
    CONFIG_DOC_HELP,    /* the settings block of --help and of the man page */
    CONFIG_DOC_MARKDOWN /* the README's table of settings */
} config_doc;
/* Every setting of the table (src/config.c) as text; the caller frees it. NULL when
 * out of memory. */
char *config_settings_doc(config_doc format);
/* Parses RFC 3339 ("2026-11-01T00:00:00Z", offsets, fractions) or a date
 * ("2026-11-01", midnight UTC) into microseconds since the epoch; 0 on success. */
int config_parse_time(const char *s, int64_t *out_us);
/* 1 when the URL's host is loopback (127.0.0.0/8, ::1, localhost). */
int config_is_loopback_url(const char *url);

#endif
