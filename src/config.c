/* Settings from the command line and the environment: see config.h. Every setting is
 * an entry of the table below ("the table of settings"), which the README's table,
 * --help and the man page are printed from.
 *
 * Choices where the specification leaves room:
 * - Graph credential: when several are set, the client secret wins, then the
 *   certificate, then the federated token file (the order of Azure's
 *   EnvironmentCredential, then WorkloadIdentityCredential). federated_token_file
 *   is kept whenever it is set: storage may log in with it.
 * - `check` needs everything `run` needs, mailboxes included, so that a check
 *   that passes means a run can start.
 * - `convert` takes its folder from --output-dir, else ATTENDANCE_OUTPUT_DIR, and
 *   ignores storage account settings.
 * - A time given to --since/--until must carry its zone ("Z" or an offset) unless
 *   it is a bare date: a time without one would be read in whichever zone the
 *   reader assumed.
 * - Values are trimmed of surrounding white space (a secret mounted from a file
 *   often ends with a newline); a value of only white space counts as unset.
 * - A user-assigned managed identity for storage is named by
 *   ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID (AZURE_CLIENT_ID is the Graph app); the
 *   VM metadata host can be moved with AZURE_POD_IDENTITY_AUTHORITY_HOST, as in
 *   Azure's own libraries.
 * - Managed identity for Graph: when no secret, certificate or federated token file
 *   is set and an identity endpoint is present (IDENTITY_ENDPOINT with
 *   IDENTITY_HEADER; or the VM metadata endpoint, which counts as present when
 *   AZURE_POD_IDENTITY_AUTHORITY_HOST names it or the machine's DMI chassis asset tag
 *   says Azure VM: no network call is made to find out). AZURE_CLIENT_ID then names
 *   a user-assigned identity (unset: the system-assigned one) and serves storage
 *   too unless ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID names another; AZURE_TENANT_ID
 *   is not needed. */
#include "config.h"
#include "secret.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/timeutil.h"
#include "util/urlenc.h"

extern char **environ;

#define DEFAULT_IMDS "http://169.254.169.254/metadata/identity/oauth2/token"
#define MAX_USERS 1000000
#define MAX_UPN_LEN 320
#define MAX_PREFIX_LEN 512
#define MAX_SHARDS 100000

/* ---- the table of settings ----
 *
 * Every setting is declared once, here: its variable, the older names read when it
 * is unset, its flag, its type, bounds or values, default, one line of help and the
 * field it fills. The table drives reading (a flag beats the variable, the variable
 * beats its older names), defaults, bounds and their messages, the settings block of
 * --help and of the man page, and the README's table (src/tools/settings-doc.c;
 * tests/docs/check-readme.sh keeps the README equal to it).
 *
 * A setting whose meaning spans several (which credential, which storage target,
 * mailboxes merged from three places) is read by one hook of its group: `raw` says a
 * hook reads its value rather than the table storing it; the group's hook sits on its
 * first entry, whose place in the table is where the group is checked. Order matters:
 * the first bad setting in table order is the one reported. */

typedef enum setting_id {
    S_LOG_FORMAT,
    S_LOG_LEVEL,
    S_PARQUET_COMPRESSION,
    S_PARQUET_TIMESTAMPS,
    S_JOB_COMPLETION_INDEX,
    S_EXECUTION_NAME,
    S_REPLICA_NAME,
    S_GROUPS,
    S_USERS,
    S_SGA_UPN,
    S_FIRST_RUN_DAYS,
    S_OVERLAP_MINUTES,
    S_SETTLE_MINUTES,
    S_CONCURRENCY,
    S_HTTP_TIMEOUT,
    S_MAX_RETRIES,
    S_MAX_RETRY_WAIT,
    S_MAX_PAGES,
    S_TRACK_DAYS,
    S_CLAIM_LEASE,
    S_MAILBOX_MAX_MB,
    S_MAX_RESPONSE_MB,
    S_SPILL_MB,
    S_TMPDIR,
    S_SNAPSHOT_OMIT,
    S_TENANT,
    S_CLIENT_ID,
    S_CLIENT_SECRET,
    S_CERT_PATH,
    S_FEDERATED_TOKEN_FILE,
    S_IDENTITY_ENDPOINT,
    S_IDENTITY_HEADER,
    S_POD_IDENTITY_HOST,
    S_AUTHORITY_HOST,
    S_GRAPH_ENDPOINT,
    S_CONTAINER,
    S_PREFIX,
    S_CONNECTION_STRING,
    S_ACCOUNT_URL,
    S_SAS_TOKEN,
    S_OUTPUT_DIR,
    S_MI_CLIENT_ID,
    S_SSL_CERT_FILE,
    S_CURL_CA_BUNDLE,
    S_SSL_CERT_DIR,
    S_COUNT
} setting_id;

typedef enum setting_type {
    T_INT,   /* a whole number in [lo, hi], into an int */
    T_ENUM,  /* one of choices (case-insensitive), its value into an int-sized enum */
    T_TEXT,  /* a string, trimmed, into a char * */
    T_DIR,   /* an absolute folder, into a char * */
    T_URL,   /* an http(s) base URL, https unless loopback, no trailing slash */
    T_LIST,  /* names separated by commas, spaces or newlines: read by its hook */
    T_FILE,  /* a path to a readable file: read by its hook */
    T_SECRET /* a secret: read by its hook, never echoed */
} setting_type;

/* Commands that read a setting (help and version read none). */
enum {
    W_RUN = 1 << CMD_RUN,
    W_CHECK = 1 << CMD_CHECK,
    W_AUDIT = 1 << CMD_AUDIT,
    W_RUNS = W_RUN | W_CHECK | W_AUDIT,
    W_STORE = W_RUNS | 1 << CMD_COMPACT, /* the storage's settings: compact reads them too */
    W_ANY = W_STORE | 1 << CMD_CONVERT | 1 << CMD_SCHEMA
};

typedef struct setting_choice {
    const char *name;
    int value;
    int alias; /* accepted, not shown */
} setting_choice;

typedef struct cli cli;

/* What was given for each setting, before any is checked. */
typedef struct reading {
    const char *v[S_COUNT];    /* its flag's value, else the first of its names set; NULL: unset */
    const char *from[S_COUNT]; /* the flag or variable that gave it (its name when unset) */
    int by_flag[S_COUNT];
    const cli *c; /* the command's own options (--since, --shard ...) */
    command cmd;
} reading;

typedef status (*setting_hook)(config *cfg, const reading *r, errinfo *err);

typedef struct setting {
    const char *name;      /* the variable */
    const char *legacy[3]; /* older names, read in this order when it is unset */
    const char *flag;      /* its option, or NULL */
    const char *arg;       /* the flag's argument as --help shows it */
    setting_type type;
    long lo, hi;                   /* T_INT */
    const setting_choice *choices; /* T_ENUM, ended by a NULL name */
    const char *hint;              /* T_ENUM: said after the choices in its message */
    const char *def;               /* the default, given as a value would be; NULL: none */
    const char *def_doc;           /* the default in words when it is not one value */
    size_t off;                    /* offsetof(config, field) for T_INT .. T_URL */
    unsigned when;                 /* W_* */
    int raw;                       /* read by a hook (its own or its group's), not stored by type */
    int external;                  /* read by another module; here to be documented */
    setting_hook hook;             /* checks it after it is stored, or reads it (and its group) */
    const char *help;              /* one line */
} setting;

static status hook_log_format(config *cfg, const reading *r, errinfo *err);
static status hook_scale(config *cfg, const reading *r, errinfo *err);
static status hook_groups(config *cfg, const reading *r, errinfo *err);
static status hook_users(config *cfg, const reading *r, errinfo *err);
static status hook_tmpdir(config *cfg, const reading *r, errinfo *err);
static status hook_snapshot_omit(config *cfg, const reading *r, errinfo *err);
static status hook_credentials(config *cfg, const reading *r, errinfo *err);
static status hook_graph_endpoint(config *cfg, const reading *r, errinfo *err);
static status hook_container(config *cfg, const reading *r, errinfo *err);
static status hook_prefix(config *cfg, const reading *r, errinfo *err);
static status hook_storage(config *cfg, const reading *r, errinfo *err);

_Static_assert(sizeof(log_format) == sizeof(int) && sizeof(log_level) == sizeof(int) &&
                   sizeof(pq_codec) == sizeof(int),
               "T_ENUM stores an int");

static const setting_choice log_formats[] = {
    {"json", LOG_FORMAT_JSON, 0}, {"text", LOG_FORMAT_TEXT, 0}, {NULL, 0, 0}};
static const setting_choice log_levels[] = {{"debug", LOG_DEBUG, 0}, {"info", LOG_INFO, 0},
                                            {"warn", LOG_WARN, 0},   {"warning", LOG_WARN, 1},
                                            {"error", LOG_ERROR, 0}, {NULL, 0, 0}};
static const setting_choice codecs[] = {{"snappy", PQ_CODEC_SNAPPY, 0},
                                        {"zstd", PQ_CODEC_ZSTD, 0},
                                        {"none", PQ_CODEC_NONE, 0},
                                        {"uncompressed", PQ_CODEC_NONE, 1},
                                        {NULL, 0, 0}};
static const setting_choice timestamp_kinds[] = {{"micros", 0, 0}, {"int96", 1, 0}, {NULL, 0, 0}};

#define AT(field) .off = offsetof(config, field)
#define INT(l, h) .type = T_INT, .lo = (l), .hi = (h)

static const setting settings[S_COUNT] = {
    /* logs and Parquet: every command that reads settings */
    [S_LOG_FORMAT] = {.name = "LOG_FORMAT",
                      .flag = "--log-format",
                      .arg = "json|text",
                      .type = T_ENUM,
                      .choices = log_formats,
                      AT(log_format),
                      .when = W_ANY,
                      .def_doc = "json unless stderr is a terminal",
                      .hook = hook_log_format,
                      .help = "log lines as JSON objects or as text"},
    [S_LOG_LEVEL] = {.name = "LOG_LEVEL",
                     .flag = "--log-level",
                     .arg = "LEVEL",
                     .type = T_ENUM,
                     .choices = log_levels,
                     .def = "info",
                     AT(log_level),
                     .when = W_ANY,
                     .help = "the least severe log lines written"},
    [S_PARQUET_COMPRESSION] = {.name = "ATTENDANCE_PARQUET_COMPRESSION",
                               .type = T_ENUM,
                               .choices = codecs,
                               .def = "snappy",
                               AT(codec),
                               .when = W_ANY,
                               .help = "the Parquet tables' compression"},
    [S_PARQUET_TIMESTAMPS] = {.name = "ATTENDANCE_PARQUET_TIMESTAMPS",
                              .type = T_ENUM,
                              .choices = timestamp_kinds,
                              .hint = " (int96 for the dedicated SQL pool's older reader)",
                              .def = "micros",
                              AT(int96_timestamps),
                              .when = W_ANY,
                              .help = "timestamp columns as microseconds, or int96 for the "
                                      "dedicated SQL pool's Hadoop reader"},

    /* replicas and shards */
    [S_JOB_COMPLETION_INDEX] = {.name = "JOB_COMPLETION_INDEX",
                                INT(0, MAX_SHARDS - 1),
                                .when = W_RUNS,
                                .raw = 1,
                                .hook = hook_scale,
                                .help = "with --shard-count N, this replica's shard (Kubernetes "
                                        "indexed jobs set it)"},
    [S_EXECUTION_NAME] = {.name = "CONTAINER_APP_JOB_EXECUTION_NAME",
                          .type = T_TEXT,
                          .when = W_RUNS,
                          .raw = 1,
                          .help = "with --claim, the execution whose replicas share the "
                                  "mailboxes (Container Apps sets it)"},
    [S_REPLICA_NAME] = {.name = "CONTAINER_APP_REPLICA_NAME",
                        .type = T_TEXT,
                        .when = W_RUNS,
                        .raw = 1,
                        .def_doc = "the host name",
                        .help = "who holds a claim: a retried replica takes its own claims back "
                                "(Container Apps sets it)"},

    /* mailboxes */
    [S_GROUPS] = {.name = "ATTENDANCE_GROUPS",
                  .flag = "--groups",
                  .arg = "LIST",
                  .type = T_LIST,
                  .when = W_RUNS,
                  .hook = hook_groups,
                  .help = "groups, by object id or the mail address of a mail-enabled group: "
                          "their members, nested groups included, are added at every run "
                          "(needs GroupMember.Read.All)"},
    [S_USERS] = {.name = "ATTENDANCE_USERS",
                 .flag = "--users",
                 .arg = "LIST",
                 .type = T_LIST,
                 .when = W_RUNS,
                 .hook = hook_users,
                 .help = "mailboxes (UPNs) separated by commas, spaces or newlines; merged with "
                         "SGA_UPN* and the groups' members, duplicates dropped (--users "
                         "replaces this and SGA_UPN*)"},
    [S_SGA_UPN] = {.name = "SGA_UPN",
                   .type = T_LIST,
                   .when = W_RUNS,
                   .raw = 1,
                   .help = "the old job's mailboxes, with SGA_UPN<n> (SGA_UPN2, ...), added "
                           "in numeric order; their watermark is kept"},

    /* the window and the limits */
    [S_FIRST_RUN_DAYS] = {.name = "ATTENDANCE_FIRST_RUN_DAYS",
                          INT(1, 3650),
                          .def = "30",
                          AT(first_run_days),
                          .when = W_RUNS,
                          .help = "how far back a mailbox's first run reads, in days"},
    [S_OVERLAP_MINUTES] = {.name = "ATTENDANCE_OVERLAP_MINUTES",
                           INT(0, 10080),
                           .def = "5",
                           AT(overlap_minutes),
                           .when = W_RUNS,
                           .help = "overlap between a run's window and the last, in minutes"},
    [S_SETTLE_MINUTES] = {.name = "ATTENDANCE_SETTLE_MINUTES",
                          INT(0, 10080),
                          .def = "60",
                          AT(settle_minutes),
                          .when = W_RUNS,
                          .help = "how long after a meeting ends its report is awaited, in "
                                  "minutes"},
    [S_CONCURRENCY] = {.name = "ATTENDANCE_CONCURRENCY",
                       .flag = "--concurrency",
                       .arg = "N",
                       INT(1, 10000),
                       .def = "256",
                       AT(concurrency),
                       .when = W_RUNS,
                       .help = "requests in flight in all (never more than 4 per mailbox)"},
    [S_HTTP_TIMEOUT] = {.name = "ATTENDANCE_HTTP_TIMEOUT_SECONDS",
                        INT(1, 3600),
                        .def = "60",
                        AT(http_timeout_s),
                        .when = W_STORE,
                        .help = "one HTTP request's time limit, in seconds"},
    [S_MAX_RETRIES] = {.name = "ATTENDANCE_MAX_RETRIES",
                       INT(0, 100),
                       .def = "6",
                       AT(max_retries),
                       .when = W_STORE,
                       .help = "retries of a throttled or failed request"},
    [S_MAX_RETRY_WAIT] = {.name = "ATTENDANCE_MAX_RETRY_WAIT_SECONDS",
                          INT(1, 3600),
                          .def = "300",
                          AT(max_retry_wait_s),
                          .when = W_STORE,
                          .help = "the longest wait before a retry, in seconds"},
    [S_MAX_PAGES] = {.name = "ATTENDANCE_MAX_PAGES",
                     INT(1, 1000000),
                     .def = "10000",
                     AT(max_pages),
                     .when = W_RUNS,
                     .help = "the most pages one Graph listing may take"},
    [S_TRACK_DAYS] = {.name = "ATTENDANCE_TRACK_DAYS",
                      INT(0, 3650),
                      .def = "30",
                      AT(track_days),
                      .when = W_RUNS,
                      .help = "how long a meeting stays tracked after its last occurrence, "
                              "in days"},
    [S_CLAIM_LEASE] = {.name = "ATTENDANCE_CLAIM_LEASE_MINUTES",
                       INT(1, 10080),
                       .def = "60",
                       AT(claim_lease_minutes),
                       .when = W_RUNS,
                       .help = "how long a --claim holds a mailbox, in minutes; set it to the "
                               "job's replica timeout"},
    [S_MAILBOX_MAX_MB] = {.name = "ATTENDANCE_MAILBOX_MAX_MB",
                          INT(1, 65536),
                          .def = "16384",
                          AT(mailbox_max_mb),
                          .when = W_RUNS,
                          .help = "the most of Graph's answers one mailbox may take in, in MB "
                                  "(held in memory or spilled to ATTENDANCE_TMPDIR); past it "
                                  "that mailbox fails instead of the disk filling up"},
    [S_MAX_RESPONSE_MB] = {.name = "ATTENDANCE_MAX_RESPONSE_MB",
                           INT(1, 1024),
                           .def = "64",
                           AT(max_response_mb),
                           .when = W_RUNS,
                           .help = "the largest single answer taken, in MB; a first calendar "
                                   "page over it is asked again with fewer events a page"},
    [S_SPILL_MB] = {.name = "ATTENDANCE_SPILL_MB",
                    INT(0, 65536),
                    .def = "32",
                    AT(spill_mb),
                    .when = W_RUNS,
                    .help = "Graph data the run keeps in memory, in all, before mailboxes "
                            "spill to ATTENDANCE_TMPDIR (0: spill at once)"},

    /* files */
    [S_TMPDIR] = {.name = "ATTENDANCE_TMPDIR",
                  .legacy = {"TMPDIR"},
                  .type = T_DIR,
                  .def = "/tmp",
                  AT(tmpdir),
                  .when = W_STORE,
                  .hook = hook_tmpdir,
                  .help = "where temporary files go (give a writable folder when the root file "
                          "system is read-only)"},
    [S_SNAPSHOT_OMIT] = {.name = "ATTENDANCE_SNAPSHOT_OMIT",
                         .type = T_LIST,
                         .when = W_RUNS,
                         .hook = hook_snapshot_omit,
                         .def_doc = "none",
                         .help = "event fields left out of both JSON snapshots (privacy), e.g. "
                                 "body,bodyPreview,attendees; convert of such a snapshot gives "
                                 "null for what it lacks"},

    /* the Graph credential: one hook chooses */
    [S_TENANT] = {.name = "AZURE_TENANT_ID",
                  .legacy = {"tenant"},
                  .type = T_TEXT,
                  .when = W_RUNS,
                  .raw = 1,
                  .hook = hook_credentials,
                  .help = "the directory (tenant) id of the app registration; not needed with "
                          "a managed identity"},
    [S_CLIENT_ID] = {.name = "AZURE_CLIENT_ID",
                     .legacy = {"client_id"},
                     .type = T_TEXT,
                     .when = W_RUNS,
                     .raw = 1,
                     .help = "the application (client) id; with a managed identity for Graph, "
                             "a user-assigned identity's (unset: the system-assigned one)"},
    [S_CLIENT_SECRET] = {.name = "AZURE_CLIENT_SECRET",
                         .legacy = {"client_secret", "client_screte"},
                         .type = T_SECRET,
                         .when = W_RUNS,
                         .raw = 1,
                         .help = "the client secret; when several credentials are set: the "
                                 "secret, then the certificate, then the federated token"},
    [S_CERT_PATH] = {.name = "AZURE_CLIENT_CERTIFICATE_PATH",
                     .type = T_FILE,
                     .when = W_RUNS,
                     .raw = 1,
                     .help = "or a PEM file holding the key and the certificate"},
    [S_FEDERATED_TOKEN_FILE] = {.name = "AZURE_FEDERATED_TOKEN_FILE",
                                .type = T_FILE,
                                .when = W_RUNS,
                                .raw = 1,
                                .help = "or workload identity's federated token file (storage "
                                        "may log in with it too)"},
    [S_IDENTITY_ENDPOINT] = {.name = "IDENTITY_ENDPOINT",
                             .type = T_URL,
                             .when = W_STORE,
                             .raw = 1,
                             .help = "with none of the three, a managed identity: the "
                                     "platform's token endpoint (Container Apps and App Service "
                                     "set it and IDENTITY_HEADER)"},
    [S_IDENTITY_HEADER] = {.name = "IDENTITY_HEADER",
                           .type = T_SECRET,
                           .when = W_STORE,
                           .raw = 1,
                           .help = "the header IDENTITY_ENDPOINT wants"},
    [S_POD_IDENTITY_HOST] = {.name = "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                             .type = T_URL,
                             .when = W_RUNS,
                             .raw = 1,
                             .def_doc = "http://169.254.169.254 on an Azure VM",
                             .help = "the VM metadata endpoint's host, for a managed identity "
                                     "without IDENTITY_ENDPOINT (an Azure VM is found by its "
                                     "asset tag, without a network call)"},
    [S_AUTHORITY_HOST] = {.name = "AZURE_AUTHORITY_HOST",
                          .type = T_URL,
                          .def = "https://login.microsoftonline.com",
                          AT(authority_host),
                          .when = W_RUNS,
                          .help = "the login host (national clouds, tests)"},
    [S_GRAPH_ENDPOINT] = {.name = "GRAPH_ENDPOINT",
                          .type = T_URL,
                          .def = "https://graph.microsoft.com",
                          AT(graph_host),
                          .when = W_RUNS,
                          .hook = hook_graph_endpoint,
                          .help = "the Graph host, without /v1.0 (national clouds, tests)"},

    /* storage: one hook chooses the target */
    [S_CONTAINER] = {.name = "ATTENDANCE_CONTAINER",
                     .type = T_TEXT,
                     .def = "teams-attendance",
                     AT(container),
                     .when = W_STORE,
                     .hook = hook_container,
                     .help = "the container, created if missing"},
    [S_PREFIX] = {.name = "ATTENDANCE_PREFIX",
                  .type = T_TEXT,
                  .def = "",
                  AT(prefix),
                  .when = W_STORE,
                  .hook = hook_prefix,
                  .def_doc = "none",
                  .help = "a folder inside the container"},
    [S_CONNECTION_STRING] = {.name = "AZURE_STORAGE_CONNECTION_STRING",
                             .type = T_SECRET,
                             .when = W_STORE,
                             .hook = hook_storage,
                             .help = "storage, exactly one of this, AZURE_STORAGE_ACCOUNT_URL or "
                                     "ATTENDANCE_OUTPUT_DIR: an account key or SAS connection "
                                     "string (UseDevelopmentStorage=true for Azurite)"},
    [S_ACCOUNT_URL] = {.name = "AZURE_STORAGE_ACCOUNT_URL",
                       .type = T_URL,
                       .when = W_STORE,
                       .raw = 1,
                       .help = "or the account URL, with AZURE_STORAGE_SAS_TOKEN or a managed "
                               "(or workload) identity"},
    [S_SAS_TOKEN] = {.name = "AZURE_STORAGE_SAS_TOKEN",
                     .type = T_SECRET,
                     .when = W_STORE,
                     .raw = 1,
                     .help = "a SAS for AZURE_STORAGE_ACCOUNT_URL"},
    [S_OUTPUT_DIR] = {.name = "ATTENDANCE_OUTPUT_DIR",
                      .flag = "--output-dir",
                      .arg = "DIR",
                      .type = T_DIR,
                      .when = W_STORE,
                      .raw = 1,
                      .help = "or a local folder, same layout (convert writes there too)"},
    [S_MI_CLIENT_ID] = {.name = "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID",
                        .type = T_TEXT,
                        .when = W_STORE,
                        .raw = 1,
                        .help = "the user-assigned identity storage uses (unset: the one "
                                "AZURE_CLIENT_ID names when Graph uses a managed identity, else "
                                "the system-assigned one)"},

    /* read by the HTTP engine (http_set_ca) */
    [S_SSL_CERT_FILE] = {.name = "SSL_CERT_FILE",
                         .type = T_FILE,
                         .external = 1,
                         .def_doc = "the system's",
                         .help = "CA certificates to trust (a private CA or an inspecting "
                                 "proxy); verification cannot be turned off"},
    [S_CURL_CA_BUNDLE] = {.name = "CURL_CA_BUNDLE",
                          .type = T_FILE,
                          .external = 1,
                          .help = "the same, before SSL_CERT_FILE"},
    [S_SSL_CERT_DIR] = {.name = "SSL_CERT_DIR",
                        .type = T_DIR,
                        .external = 1,
                        .help = "a folder of CA certificates to trust"},
};

#undef AT
#undef INT

/* The --help text, generated from docs/teams-attendance.1.txt (the man page's
 * source too) by scripts/cli-doc.awk: edit it there. One literal a line: C caps a
 * single string literal at 4095 bytes. A NULL stands where the table of settings
 * goes (its "@settings" line). */
static const char *const usage_lines[] = {
#include "usage.inc"
};

const char *config_usage(void)
{
    static char text[32768];
    if (!text[0]) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof usage_lines / sizeof usage_lines[0]; i++) {
            char *made = usage_lines[i] ? NULL : config_settings_doc(CONFIG_DOC_HELP);
            const char *s = usage_lines[i] ? usage_lines[i] : made ? made : "";
            size_t k = strlen(s);
            if (n + k < sizeof text) {
                memcpy(text + n, s, k);
                n += k;
            }
            free(made);
        }
        text[n] = '\0';
    }
    return text;
}

/* ---- small helpers ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* A copy of s without surrounding white space; NULL when out of memory. */
static char *dup_trim(const char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        n--;
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int blank(const char *s)
{
    if (!s)
        return 1;
    while (is_space(*s))
        s++;
    return *s == '\0';
}

/* The value of a variable, or NULL when unset, empty or only white space. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return blank(v) ? NULL : v;
}

static status nomem(errinfo *err)
{
    return err_set(err, ST_NOMEM, "out of memory reading the settings");
}

/* Sets *dst to a trimmed copy of v (freeing the old value). */
static status set_str(char **dst, const char *v, errinfo *err)
{
    char *p = dup_trim(v);
    if (!p)
        return nomem(err);
    free(*dst);
    *dst = p;
    return ST_OK;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void strip_trailing_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* Parses a whole decimal number in [lo, hi]; 0 on success. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    while (is_space(*s))
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (LONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    while (is_space(*s))
        s++;
    if (*s || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* An integer setting from a flag value (when not NULL) or a variable. */

/* ---- URLs ---- */

/* Finds the host of an absolute URL: [*h, *h + *hn). Returns 0 when found. */
static int url_host(const char *url, const char **h, size_t *hn, const char **rest)
{
    const char *p = strstr(url, "://");
    if (!p || p == url)
        return -1;
    for (const char *q = url; q < p; q++)
        if (!isalpha((unsigned char)*q))
            return -1;
    const char *a = p + 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    const char *host = at ? at + 1 : a;
    const char *end = a + alen;
    const char *hend;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (!rb)
            return -1;
        hend = rb + 1;
    } else {
        hend = memchr(host, ':', (size_t)(end - host));
        if (!hend)
            hend = end;
    }
    *h = host;
    *hn = (size_t)(hend - host);
    if (rest)
        *rest = end;
    return 0;
}

int config_is_loopback_url(const char *url)
{
    const char *h;
    size_t hn;
    if (!url || url_host(url, &h, &hn, NULL) != 0 || hn == 0 || hn >= 64)
        return 0;
    char host[64];
    memcpy(host, h, hn);
    host[hn] = '\0';
    /* "localhost." would go to DNS as a fully qualified name: not known to be loopback */
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (host[0] == '[') {
        host[hn - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, a) != 1)
            return 0;
        static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(a, loop6, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
    }
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    return 0;
}

/* 1 when the URL's host is exactly the VM metadata address (a prefix test would take
 * "http://169.254.169.254.example.net"). */
static int is_metadata_host(const char *url)
{
    const char *h;
    size_t hn;
    return url_host(url, &h, &hn, NULL) == 0 && hn == 15 && memcmp(h, "169.254.169.254", 15) == 0;
}

static int scheme_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

enum { URL_HTTP_LOOPBACK = 0, URL_HTTP_ANY = 1 };

/* Checks a base URL from setting `name` and stores a copy without trailing
 * slashes. http is allowed for loopback hosts only unless http_any; no user info,
 * no query (unless query_ok), no fragment, no white space. */
static status check_url(const char *name, const char *value, int http_any, int query_ok, char **out,
                        errinfo *err)
{
    char *v = dup_trim(value);
    if (!v)
        return nomem(err);
    status st = ST_OK;
    const char *h, *rest;
    size_t hn;
    int https = scheme_is(v, "https"), http = scheme_is(v, "http");
    if (has_ctl(v) || strchr(v, ' ') || (!https && !http) || url_host(v, &h, &hn, &rest) != 0 ||
        hn == 0) {
        st = err_set(err, ST_CONFIG, "%s: not an absolute http(s) URL; give it like https://host",
                     name);
        goto out;
    }
    if (memchr(v, '@', (size_t)(h - v))) {
        st = err_set(err, ST_CONFIG, "%s: the URL must not hold a user name or password", name);
        goto out;
    }
    if (strchr(v, '#') || (!query_ok && strchr(v, '?'))) {
        st = err_set(err, ST_CONFIG, "%s: the URL must not have a query or fragment", name);
        goto out;
    }
    if (http && !http_any && !config_is_loopback_url(v)) {
        st = err_set(err, ST_CONFIG,
                     "%s: plain http:// is accepted only for loopback hosts (127.0.0.0/8, ::1, "
                     "localhost); use https://",
                     name);
        goto out;
    }
    if (!query_ok)
        strip_trailing_slashes(v);
    free(*out);
    *out = v;
    v = NULL;
out:
    free(v);
    return st;
}

/* ---- time ---- */

int config_parse_time(const char *s, int64_t *out_us)
{
    if (!s)
        return -1;
    timeutil_parsed info;
    int64_t us;
    if (timeutil_parse_ex(s, strlen(s), &us, &info) != 0)
        return -1;
    if (info.has_time && !info.has_zone)
        return -1;
    *out_us = us;
    return 0;
}

/* ---- mailboxes ---- */

typedef struct user_set {
    char **v;
    size_t n, alloc;
    size_t *slots; /* open addressing: index + 1, 0 empty */
    size_t nslots;
} user_set;

static uint64_t hash_ci(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) {
        h ^= (unsigned char)tolower((unsigned char)*s);
        h *= 1099511628211u;
    }
    return h;
}

static status users_grow(user_set *u, errinfo *err)
{
    size_t alloc = u->alloc ? u->alloc * 2 : 16;
    char **v = realloc(u->v, alloc * sizeof *v);
    if (!v)
        return nomem(err);
    u->v = v;
    u->alloc = alloc;
    size_t nslots = alloc * 2;
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return nomem(err);
    for (size_t i = 0; i < u->n; i++) {
        size_t k = hash_ci(u->v[i]) % nslots;
        while (slots[k])
            k = (k + 1) % nslots;
        slots[k] = i + 1;
    }
    free(u->slots);
    u->slots = slots;
    u->nslots = nslots;
    return ST_OK;
}

/* Adds one UPN unless a case-insensitive duplicate is there. */
static status users_add(user_set *u, const char *s, size_t n, const char *from, errinfo *err)
{
    if (n > MAX_UPN_LEN)
        return err_set(err, ST_CONFIG, "%s: a mailbox name is longer than %d characters", from,
                       MAX_UPN_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#')
            return err_set(err, ST_CONFIG,
                           "%s: mailbox %zu holds a character a UPN cannot have (control, / \\ "
                           "? or #)",
                           from, u->n + 1);
    }
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return err_set(err, ST_CONFIG, "%s: mailbox %zu is \"%.*s\", not a user principal name",
                       from, u->n + 1, (int)n, s);
    char *p = malloc(n + 1);
    if (!p)
        return nomem(err);
    memcpy(p, s, n);
    p[n] = '\0';
    if (u->n + 1 > u->alloc / 2 + u->alloc / 4 || !u->alloc) {
        status st = users_grow(u, err);
        if (st != ST_OK) {
            free(p);
            return st;
        }
    }
    size_t k = hash_ci(p) % u->nslots;
    while (u->slots[k]) {
        if (strcasecmp(u->v[u->slots[k] - 1], p) == 0) {
            free(p);
            return ST_OK;
        }
        k = (k + 1) % u->nslots;
    }
    if (u->n >= MAX_USERS) {
        free(p);
        return err_set(err, ST_CONFIG, "%s: more than %d mailboxes", from, MAX_USERS);
    }
    u->v[u->n] = p;
    u->slots[k] = ++u->n;
    return ST_OK;
}

/* Splits a list on commas, semicolons and white space. */
static status users_add_list(user_set *u, const char *list, const char *from, errinfo *err)
{
    const char *p = list;
    while (*p) {
        size_t skip = strspn(p, ",; \t\r\n\f\v");
        p += skip;
        size_t n = strcspn(p, ",; \t\r\n\f\v");
        if (n) {
            status st = users_add(u, p, n, from, err);
            if (st != ST_OK)
                return st;
        }
        p += n;
    }
    return ST_OK;
}

typedef struct numbered {
    const char *digits; /* without leading zeros */
    size_t ndigits;
    const char *entry; /* "SGA_UPN12=value" */
} numbered;

static int cmp_numbered(const void *a, const void *b)
{
    const numbered *x = a, *y = b;
    if (x->ndigits != y->ndigits)
        return x->ndigits < y->ndigits ? -1 : 1;
    int c = memcmp(x->digits, y->digits, x->ndigits);
    if (c)
        return c;
    return strcmp(x->entry, y->entry); /* SGA_UPN01 before SGA_UPN1 */
}

/* Adds every SGA_UPN<n> in numeric order. */
static status users_add_numbered(user_set *u, errinfo *err)
{
    size_t count = 0;
    for (char **e = environ; *e; e++)
        count++;
    numbered *list = calloc(count ? count : 1, sizeof *list);
    if (!list)
        return nomem(err);
    size_t n = 0;
    for (char **e = environ; *e; e++) {
        const char *s = *e;
        if (strncmp(s, "SGA_UPN", 7) != 0)
            continue;
        const char *d = s + 7;
        size_t nd = 0;
        while (d[nd] >= '0' && d[nd] <= '9')
            nd++;
        if (nd == 0 || d[nd] != '=')
            continue;
        while (nd > 1 && *d == '0') {
            d++;
            nd--;
        }
        list[n].digits = d;
        list[n].ndigits = nd;
        list[n].entry = s;
        n++;
    }
    qsort(list, n, sizeof *list, cmp_numbered);
    status st = ST_OK;
    for (size_t i = 0; i < n && st == ST_OK; i++) {
        const char *eq = strchr(list[i].entry, '=');
        char name[64];
        size_t nl = (size_t)(eq - list[i].entry);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, list[i].entry, nl);
        name[nl] = '\0';
        st = users_add_list(u, eq + 1, name, err);
    }
    free(list);
    return st;
}

static void users_free(user_set *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->v[i]);
    free(u->v);
    free(u->slots);
    memset(u, 0, sizeof *u);
}

/* ---- storage ---- */

static int valid_container(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        if (c == '-' && s[i + 1] == '-')
            return 0;
    }
    return 1;
}

/* "a/b", "/a//b/" -> "a/b/"; "" -> "". Rejects "." and ".." segments. */
static status normalise_prefix(const char *v, char **out, errinfo *err)
{
    const char *name = "ATTENDANCE_PREFIX";
    if (strlen(v) > MAX_PREFIX_LEN)
        return err_set(err, ST_CONFIG, "%s: longer than %d characters", name, MAX_PREFIX_LEN);
    if (has_ctl(v) || strchr(v, '\\'))
        return err_set(err, ST_CONFIG,
                       "%s: holds a control character or a backslash; use a folder like a/b", name);
    buf b;
    buf_init(&b, 0);
    status st = buf_appends(&b, "", err);
    const char *p = v;
    while (st == ST_OK && *p) {
        p += strspn(p, "/");
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            st = err_set(err, ST_CONFIG, "%s: a folder may not be \".\" or \"..\"", name);
            break;
        }
        st = buf_append(&b, p, n, err);
        if (st == ST_OK)
            st = buf_append(&b, "/", 1, err);
        p += n;
    }
    if (st != ST_OK) {
        buf_dispose(&b);
        return st;
    }
    free(*out);
    *out = buf_take(&b);
    return ST_OK;
}

/* A SAS must carry a signature; a leading '?' is dropped. Registers it secret. */
static status set_sas(config *cfg, const char *name, const char *v, errinfo *err)
{
    while (*v == '?' || is_space(*v))
        v++;
    status st = set_str(&cfg->sas_token, v, err);
    if (st != ST_OK)
        return st;
    if (has_ctl(cfg->sas_token) || strchr(cfg->sas_token, ' ') ||
        (strncmp(cfg->sas_token, "sig=", 4) != 0 && !strstr(cfg->sas_token, "&sig=")))
        return err_set(err, ST_CONFIG,
                       "%s: does not look like a SAS token (no sig= field); copy the whole token "
                       "from the portal or az storage container generate-sas",
                       name);
    secret_add_sas(cfg->sas_token);
    return ST_OK;
}

/* ---- the command line ---- */

struct cli {
    const char *command;
    const char *since, *until, *shard, *shard_count, *before, *table;
    int claim, sql, help, version;
    const char *setting[S_COUNT]; /* a setting's flag value (settings[].flag) */
    char **inputs;
    size_t ninputs;
};

/* The command's own options; a setting's flag is declared in its table entry. */
typedef struct opt_def {
    const char *name;
    size_t field; /* offsetof the const char * (a value) or int (a flag) in cli */
    int is_flag;
} opt_def;

#define VALUE_OPT(n, f)                                                                            \
    {                                                                                              \
        n, offsetof(cli, f), 0                                                                     \
    }
#define FLAG_OPT(n, f)                                                                             \
    {                                                                                              \
        n, offsetof(cli, f), 1                                                                     \
    }

static const opt_def options[] = {
    VALUE_OPT("--since", since),    VALUE_OPT("--until", until),
    VALUE_OPT("--shard", shard),    VALUE_OPT("--shard-count", shard_count),
    VALUE_OPT("--before", before),  VALUE_OPT("--table", table),
    FLAG_OPT("--claim", claim),     FLAG_OPT("--sql", sql),
    FLAG_OPT("--help", help),       FLAG_OPT("-h", help),
    FLAG_OPT("--version", version), FLAG_OPT("-V", version),
};

static status parse_cli(cli *c, int argc, char **argv, errinfo *err)
{
    memset(c, 0, sizeof *c);
    c->inputs = calloc(argc > 0 ? (size_t)argc : 1, sizeof *c->inputs);
    if (!c->inputs)
        return nomem(err);
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (!c->command && !only_files) {
                static const char *const cmds[] = {"run",   "convert", "check",   "schema",
                                                   "audit", "help",    "version", "compact"};
                int known = 0;
                for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
                    if (strcmp(a, cmds[k]) == 0)
                        known = 1;
                if (!known)
                    return err_set(err, ST_USAGE,
                                   "unknown command \"%.64s\"; commands are run, convert, "
                                   "check, schema, audit, compact (see --help)",
                                   a);
                c->command = a;
                continue;
            }
            if (!c->command || strcmp(c->command, "convert") != 0)
                return err_set(err, ST_USAGE,
                               "unexpected argument \"%.64s\"; only convert takes files (see "
                               "--help)",
                               a);
            c->inputs[c->ninputs++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char *name = NULL;
        const char **value_at = NULL;
        int *flag_at = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
            if (strlen(options[k].name) == nl && strncmp(options[k].name, a, nl) == 0) {
                name = options[k].name;
                if (options[k].is_flag)
                    flag_at = (int *)((char *)c + options[k].field);
                else
                    value_at = (const char **)((char *)c + options[k].field);
            }
        for (size_t k = 0; k < S_COUNT && !name; k++)
            if (settings[k].flag && strlen(settings[k].flag) == nl &&
                strncmp(settings[k].flag, a, nl) == 0) {
                name = settings[k].flag;
                value_at = &c->setting[k];
            }
        if (!name)
            return err_set(err, ST_USAGE, "unknown option \"%.*s\" (see --help)",
                           (int)(nl > 64 ? 64 : nl), a);
        if (flag_at) {
            if (eq)
                return err_set(err, ST_USAGE, "option %s takes no value", name);
            *flag_at = 1;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc)
                return err_set(err, ST_USAGE, "option %s needs a value", name);
            v = argv[++i];
        }
        if (blank(v))
            return err_set(err, ST_USAGE, "option %s needs a value", name);
        *value_at = v;
    }
    return ST_OK;
}

/* ---- the settings: hooks ---- */

static status set_output_dir(config *cfg, const char *v, errinfo *err)
{
    status st = set_str(&cfg->output_dir, v, err);
    if (st != ST_OK)
        return st;
    if (strlen(cfg->output_dir) > 1)
        strip_trailing_slashes(cfg->output_dir);
    if (!cfg->output_dir[0])
        cfg->output_dir[0] = '/', cfg->output_dir[1] = '\0';
    return ST_OK;
}

static int valid_ident(const char *s, const char *extra)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static status readable_file(const char *name, const char *path, const char *what, errinfo *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, ST_CONFIG, "%s: cannot read %s \"%.200s\" (%s); %s", name, what, path,
                       strerror(errno), "check the path and the file's permissions");
    fclose(f);
    return ST_OK;
}

/* The managed identity endpoint the platform gives: IDENTITY_ENDPOINT with
 * IDENTITY_HEADER (Container Apps, App Service), else the VM metadata endpoint (moved
 * by AZURE_POD_IDENTITY_AUTHORITY_HOST). Safe to call more than once. */
static status load_identity_endpoint(config *cfg, const reading *r, errinfo *err)
{
    status st;
    const char *ie = r->v[S_IDENTITY_ENDPOINT];
    if (ie) {
        if ((st = check_url("IDENTITY_ENDPOINT", ie, URL_HTTP_ANY, 0, &cfg->identity_endpoint,
                            err)) != ST_OK)
            return st;
        const char *ih = r->v[S_IDENTITY_HEADER];
        if (!ih)
            return err_set(err, ST_CONFIG,
                           "IDENTITY_HEADER: not set while IDENTITY_ENDPOINT is; the platform "
                           "sets both when the app has a managed identity");
        if ((st = set_str(&cfg->identity_header, ih, err)) != ST_OK)
            return st;
        secret_add(cfg->identity_header);
    }
    const char *pod = r->v[S_POD_IDENTITY_HOST];
    if (pod) {
        char *host = NULL;
        st = check_url("AZURE_POD_IDENTITY_AUTHORITY_HOST", pod, URL_HTTP_ANY, 0, &host, err);
        if (st == ST_OK && scheme_is(host, "http") && !config_is_loopback_url(host) &&
            !is_metadata_host(host))
            st = err_set(err, ST_CONFIG,
                         "AZURE_POD_IDENTITY_AUTHORITY_HOST: plain http:// only for the metadata "
                         "address 169.254.169.254 or a loopback host");
        if (st == ST_OK) {
            size_t need = strlen(host) + sizeof "/metadata/identity/oauth2/token";
            char *u = malloc(need);
            if (!u) {
                st = nomem(err);
            } else {
                snprintf(u, need, "%s/metadata/identity/oauth2/token", host);
                free(cfg->imds_endpoint);
                cfg->imds_endpoint = u;
            }
        }
        free(host);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* 1 when this machine says it is an Azure VM (the chassis asset tag Azure sets, as
 * cloud-init reads it): its metadata endpoint is then there, without a network call. */
static int azure_vm(void)
{
    char tag[64] = "";
    FILE *f = fopen("/sys/class/dmi/id/chassis_asset_tag", "r");
    if (!f)
        return 0;
    int ok = fgets(tag, sizeof tag, f) != NULL;
    fclose(f);
    return ok && strncmp(tag, "7783-7084-3265-9085-8269-3286-77", 32) == 0;
}

/* 1 when a managed identity endpoint is present: IDENTITY_ENDPOINT, or the VM metadata
 * endpoint (named by AZURE_POD_IDENTITY_AUTHORITY_HOST, or this is an Azure VM). */
static int identity_endpoint_present(const config *cfg, const reading *r)
{
    return cfg->identity_endpoint || r->v[S_POD_IDENTITY_HOST] || azure_vm();
}

static status hook_credentials(config *cfg, const reading *r, errinfo *err)
{
    const char *which = NULL, *secret_var = r->from[S_CLIENT_SECRET];
    status st;
    const char *secret = r->v[S_CLIENT_SECRET];
    const char *cert = r->v[S_CERT_PATH];
    const char *fed = r->v[S_FEDERATED_TOKEN_FILE];
    /* With none of the three, a managed identity endpoint logs in to Graph; tenant
     * and client id are then optional (the client id names a user-assigned identity). */
    int mi = 0;
    if (!secret && !cert && !fed) {
        if ((st = load_identity_endpoint(cfg, r, err)) != ST_OK)
            return st;
        mi = identity_endpoint_present(cfg, r);
        if (!mi) /* first: with a managed identity, tenant and client id are optional */
            return err_set(err, ST_CONFIG,
                           "no Graph credential: set AZURE_CLIENT_SECRET (or client_secret), or "
                           "AZURE_CLIENT_CERTIFICATE_PATH (PEM with key and certificate), or "
                           "AZURE_FEDERATED_TOKEN_FILE (workload identity), or run with a "
                           "managed identity (IDENTITY_ENDPOINT and IDENTITY_HEADER, as Container "
                           "Apps and App Service set them, or the VM metadata endpoint, moved by "
                           "AZURE_POD_IDENTITY_AUTHORITY_HOST)");
    }
    const char *v = r->v[S_TENANT];
    which = r->from[S_TENANT];
    if (!v && !mi)
        return err_set(err, ST_CONFIG,
                       "AZURE_TENANT_ID: not set; set it to the directory (tenant) id of the app "
                       "registration");
    if (v && (st = set_str(&cfg->tenant, v, err)) != ST_OK)
        return st;
    if (v && (strlen(cfg->tenant) > 253 || !valid_ident(cfg->tenant, ".-")))
        return err_set(err, ST_CONFIG,
                       "%s: expected a tenant id (GUID) or domain name (letters, digits, dots, "
                       "hyphens)",
                       which);
    v = r->v[S_CLIENT_ID];
    which = r->from[S_CLIENT_ID];
    if (!v && !mi)
        return err_set(err, ST_CONFIG,
                       "AZURE_CLIENT_ID: not set; set it to the application (client) id of the "
                       "app registration");
    if (v && (st = set_str(&cfg->client_id, v, err)) != ST_OK)
        return st;
    if (v && (strlen(cfg->client_id) > 128 || !valid_ident(cfg->client_id, ".-_")))
        return err_set(err, ST_CONFIG,
                       "%s: expected an application (client) id (a GUID: letters, digits, hyphens)",
                       which);

    if (fed && (st = set_str(&cfg->federated_token_file, fed, err)) != ST_OK)
        return st;
    if (secret) {
        cfg->cred = CRED_SECRET;
        if ((st = set_str(&cfg->client_secret, secret, err)) != ST_OK)
            return st;
        secret_add(cfg->client_secret);
        if (has_ctl(cfg->client_secret))
            return err_set(err, ST_CONFIG,
                           "%s: holds a control character; copy the secret's Value again",
                           secret_var);
    } else if (cert) {
        cfg->cred = CRED_CERTIFICATE;
        if ((st = set_str(&cfg->cert_path, cert, err)) != ST_OK)
            return st;
        if ((st = readable_file("AZURE_CLIENT_CERTIFICATE_PATH", cfg->cert_path,
                                "the certificate file", err)) != ST_OK)
            return st;
        /* its contents are checked by the token source (token_check_settings) */
    } else if (cfg->federated_token_file) {
        cfg->cred = CRED_WORKLOAD;
    } else {
        cfg->cred = CRED_MANAGED_IDENTITY; /* mi: checked above */
    }
    if (cfg->federated_token_file &&
        (st = readable_file("AZURE_FEDERATED_TOKEN_FILE", cfg->federated_token_file,
                            "the federated token file", err)) != ST_OK)
        return st;

    return ST_OK;
}

/* GRAPH_ENDPOINT is a host: the job adds the version. */
static status hook_graph_endpoint(config *cfg, const reading *r, errinfo *err)
{
    (void)r;
    size_t gl = strlen(cfg->graph_host);
    if ((gl >= 5 && strcmp(cfg->graph_host + gl - 5, "/v1.0") == 0) ||
        (gl >= 5 && strcmp(cfg->graph_host + gl - 5, "/beta") == 0))
        return err_set(err, ST_CONFIG,
                       "GRAPH_ENDPOINT: give the host only, like https://graph.microsoft.com (the "
                       "job adds /v1.0)");
    return ST_OK;
}

/* The old job's mailboxes (SGA_UPN, SGA_UPN<n>): its checkpoint's watermark is
 * theirs, whether or not this run reads them. */
static status load_legacy_users(config *cfg, const reading *r, errinfo *err)
{
    user_set u = {0};
    status st = ST_OK;
    const char *v = r->v[S_SGA_UPN];
    if (v)
        st = users_add_list(&u, v, "SGA_UPN", err);
    if (st == ST_OK)
        st = users_add_numbered(&u, err);
    if (st != ST_OK) {
        users_free(&u);
        return st;
    }
    for (size_t i = 0; i < u.n; i++)
        for (char *p = u.v[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    cfg->legacy_users = u.v;
    cfg->nlegacy_users = u.n;
    free(u.slots);
    return ST_OK;
}

/* A group is named by its object id (a GUID) or the mail address of a mail-enabled
 * group: anything else would reach Graph as a path or filter it was not meant to be. */
static int group_name_ok(const char *s, size_t n)
{
    if (memchr(s, '@', n))
        return n <= MAX_UPN_LEN;
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static status hook_groups(config *cfg, const reading *r, errinfo *err)
{
    const char *from = r->from[S_GROUPS];
    const char *list = r->v[S_GROUPS];
    if (!list)
        return ST_OK;
    status bad = r->by_flag[S_GROUPS] ? ST_USAGE : ST_CONFIG;
    for (const char *p = list; *p;) {
        p += strspn(p, ",; \t\r\n\f\v");
        size_t n = strcspn(p, ",; \t\r\n\f\v");
        if (n && !group_name_ok(p, n))
            return err_set(err, bad,
                           "%s: \"%.*s\" is neither a group object id (a GUID) nor the mail "
                           "address of a mail-enabled group",
                           from, n > 80 ? 80 : (int)n, p);
        p += n;
    }
    user_set u = {0};
    status st = users_add_list(&u, list, from, err);
    if (st == ST_OK && u.n == 0)
        st = err_set(err, bad, "%s: no group in the list", from);
    if (st != ST_OK) {
        if (err)
            err->code = bad;
        users_free(&u);
        return bad;
    }
    cfg->groups = u.v;
    cfg->ngroups = u.n;
    free(u.slots);
    return ST_OK;
}

static status hook_users(config *cfg, const reading *r, errinfo *err)
{
    user_set u = {0};
    status st = ST_OK;
    int by_flag = r->by_flag[S_USERS];
    if (by_flag) {
        st = users_add_list(&u, r->v[S_USERS], "--users", err);
        if (st == ST_CONFIG) {
            st = ST_USAGE;
            if (err)
                err->code = ST_USAGE;
        }
        cfg->nusers_listed = u.n;
    } else {
        const char *v = r->v[S_USERS];
        if (v)
            st = users_add_list(&u, v, "ATTENDANCE_USERS", err);
        cfg->nusers_listed = u.n;
        v = r->v[S_SGA_UPN];
        if (st == ST_OK && v)
            st = users_add_list(&u, v, "SGA_UPN", err);
        if (st == ST_OK)
            st = users_add_numbered(&u, err);
    }
    /* a group alone is enough: its members are the mailboxes */
    if (st == ST_OK && u.n == 0 && (by_flag || cfg->ngroups == 0))
        st = by_flag ? err_set(err, ST_USAGE, "--users: no mailbox in the list")
                     : err_set(err, ST_CONFIG,
                               "ATTENDANCE_USERS: no mailbox configured; set ATTENDANCE_USERS "
                               "(UPNs separated by commas), SGA_UPN / SGA_UPN<n> or "
                               "ATTENDANCE_GROUPS, or pass --users or --groups");
    if (st != ST_OK) {
        users_free(&u);
        return st;
    }
    cfg->users = u.v;
    cfg->nusers = u.n;
    free(u.slots);
    return load_legacy_users(cfg, r, err);
}

static status hook_container(config *cfg, const reading *r, errinfo *err)
{
    (void)r;
    if (!valid_container(cfg->container))
        return err_set(err, ST_CONFIG,
                       "ATTENDANCE_CONTAINER: not a valid container name (3 to 63 "
                       "characters: lower-case letters, digits and single hyphens, starting "
                       "and ending with a letter or digit)");
    return ST_OK;
}

static status hook_prefix(config *cfg, const reading *r, errinfo *err)
{
    (void)r;
    char *given = cfg->prefix;
    cfg->prefix = NULL;
    status st = normalise_prefix(given, &cfg->prefix, err);
    free(given);
    return st;
}

/* The storage target: --output-dir, else exactly one of the three variables. */
static status hook_storage(config *cfg, const reading *r, errinfo *err)
{
    status st;
    if (r->by_flag[S_OUTPUT_DIR]) {
        cfg->storage = STORAGE_DIR;
        return set_output_dir(cfg, r->v[S_OUTPUT_DIR], err);
    }
    const char *cs = r->v[S_CONNECTION_STRING];
    const char *url = r->v[S_ACCOUNT_URL];
    const char *dir = r->v[S_OUTPUT_DIR];
    const char *sas = r->v[S_SAS_TOKEN];
    int n = !!cs + !!url + !!dir;
    if (n == 0)
        return err_set(err, ST_CONFIG,
                       "no storage target: set AZURE_STORAGE_CONNECTION_STRING, or "
                       "AZURE_STORAGE_ACCOUNT_URL (with AZURE_STORAGE_SAS_TOKEN or a managed "
                       "identity), or ATTENDANCE_OUTPUT_DIR, or pass --output-dir");
    if (n > 1)
        return err_set(err, ST_CONFIG,
                       "more than one storage target is set (%s%s%s); set only one, or pass "
                       "--output-dir to write to a folder",
                       cs ? "AZURE_STORAGE_CONNECTION_STRING " : "",
                       url ? "AZURE_STORAGE_ACCOUNT_URL " : "", dir ? "ATTENDANCE_OUTPUT_DIR" : "");
    if (dir) {
        cfg->storage = STORAGE_DIR;
        return set_output_dir(cfg, dir, err);
    }
    if (cs) {
        cfg->storage = STORAGE_CONNECTION_STRING;
        if ((st = set_str(&cfg->connection_string, cs, err)) != ST_OK)
            return st;
        if (sas)
            return err_set(err, ST_CONFIG,
                           "AZURE_STORAGE_SAS_TOKEN: only used with AZURE_STORAGE_ACCOUNT_URL; "
                           "put the SAS in the connection string (SharedAccessSignature=) or "
                           "unset it");
        return ST_OK;
    }
    cfg->storage = STORAGE_ACCOUNT_URL;
    if ((st = check_url("AZURE_STORAGE_ACCOUNT_URL", url, URL_HTTP_LOOPBACK, 1, &cfg->account_url,
                        err)) != ST_OK)
        return st;
    char *q = strchr(cfg->account_url, '?');
    if (q) {
        *q = '\0';
        if (sas)
            return err_set(err, ST_CONFIG,
                           "AZURE_STORAGE_ACCOUNT_URL: holds a query (a SAS?) while "
                           "AZURE_STORAGE_SAS_TOKEN is set too; give the SAS once");
        if (q[1] && (st = set_sas(cfg, "AZURE_STORAGE_ACCOUNT_URL", q + 1, err)) != ST_OK)
            return st;
    }
    strip_trailing_slashes(cfg->account_url);
    if (sas && (st = set_sas(cfg, "AZURE_STORAGE_SAS_TOKEN", sas, err)) != ST_OK)
        return st;
    if (cfg->sas_token)
        return ST_OK;

    /* No SAS: a bearer token from a managed (or workload) identity. */
    if ((st = load_identity_endpoint(cfg, r, err)) != ST_OK)
        return st;
    const char *mi = r->v[S_MI_CLIENT_ID];
    if (!mi && cfg->cred == CRED_MANAGED_IDENTITY && cfg->client_id)
        return set_str(&cfg->managed_identity_client_id, cfg->client_id, err);
    if (mi) {
        if ((st = set_str(&cfg->managed_identity_client_id, mi, err)) != ST_OK)
            return st;
        if (!valid_ident(cfg->managed_identity_client_id, "-"))
            return err_set(err, ST_CONFIG,
                           "ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID: expected the client id (a "
                           "GUID) of a user-assigned managed identity");
    }
    return ST_OK;
}

/* Event fields left out of both snapshots (privacy): names as Graph writes them. */
static status hook_snapshot_omit(config *cfg, const reading *r, errinfo *err)
{
    const char *v = r->v[S_SNAPSHOT_OMIT];
    if (!v)
        return ST_OK;
    for (const char *p = v; *p;) {
        p += strspn(p, ", \t\r\n");
        size_t n = strcspn(p, ", \t\r\n");
        if (!n)
            break;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)p[i]) && p[i] != '@' && p[i] != '.' && p[i] != '_')
                return err_set(err, ST_CONFIG,
                               "ATTENDANCE_SNAPSHOT_OMIT: \"%.*s\" is not an event field name "
                               "(e.g. body,bodyPreview,attendees)",
                               (int)n, p);
        static const char *const needed[] = {"id", "start", "end", "isOrganizer", "type"};
        for (size_t k = 0; k < sizeof needed / sizeof needed[0]; k++)
            if (strlen(needed[k]) == n && strncmp(p, needed[k], n) == 0)
                return err_set(err, ST_CONFIG,
                               "ATTENDANCE_SNAPSHOT_OMIT: %s cannot be left out: the tables and "
                               "the watermark are built from it",
                               needed[k]);
        char **grown = realloc(cfg->snapshot_omit, (cfg->nsnapshot_omit + 1) * sizeof *grown);
        if (!grown)
            return nomem(err);
        cfg->snapshot_omit = grown;
        if (!(cfg->snapshot_omit[cfg->nsnapshot_omit] = strndup(p, n)))
            return nomem(err);
        cfg->nsnapshot_omit++;
        p += n;
    }
    return ST_OK;
}

static status hook_tmpdir(config *cfg, const reading *r, errinfo *err)
{
    (void)r;
    if (cfg->tmpdir[0] != '/')
        return err_set(err, ST_CONFIG,
                       "ATTENDANCE_TMPDIR (or TMPDIR): \"%.200s\" is not an absolute folder",
                       cfg->tmpdir);
    return ST_OK;
}

static status load_window(config *cfg, const cli *c, errinfo *err)
{
    if (c->since) {
        if (config_parse_time(c->since, &cfg->since_us) != 0)
            return err_set(err, ST_USAGE,
                           "--since: expected RFC 3339 with a zone (2026-11-01T00:00:00Z) or a "
                           "date (2026-11-01)");
        cfg->has_since = 1;
    }
    if (c->until) {
        /* audit's period starts at each mailbox's first window unless --since moves it */
        if (!c->since && cfg->cmd != CMD_AUDIT)
            return err_set(err, ST_USAGE, "--until needs --since");
        if (config_parse_time(c->until, &cfg->until_us) != 0)
            return err_set(err, ST_USAGE,
                           "--until: expected RFC 3339 with a zone (2026-11-01T00:00:00Z) or a "
                           "date (2026-11-01)");
        cfg->has_until = 1;
        if (c->since && cfg->until_us <= cfg->since_us)
            return err_set(err, ST_USAGE, "--until must be later than --since");
    } else if (c->since && cfg->since_us >= timeutil_now_us()) {
        return err_set(err, ST_USAGE,
                       "--since is in the future; give --until too or an earlier "
                       "time");
    }
    return ST_OK;
}

/* --shard, --shard-count with JOB_COMPLETION_INDEX, --claim, and who holds a claim. */
static status hook_scale(config *cfg, const reading *r, errinfo *err)
{
    const cli *c = r->c;
    status st;
    if (c->shard && c->shard_count)
        return err_set(err, ST_USAGE, "give --shard I/N or --shard-count N, not both");
    if (c->shard) {
        const char *slash = strchr(c->shard, '/');
        char ibuf[16];
        size_t il = slash ? (size_t)(slash - c->shard) : 0;
        if (!slash || il == 0 || il >= sizeof ibuf)
            return err_set(err, ST_USAGE, "--shard: expected I/N, like 0/4");
        memcpy(ibuf, c->shard, il);
        ibuf[il] = '\0';
        if (parse_int(ibuf, 0, MAX_SHARDS - 1, &cfg->shard_index) != 0 ||
            parse_int(slash + 1, 1, MAX_SHARDS, &cfg->shard_count) != 0 ||
            cfg->shard_index >= cfg->shard_count)
            return err_set(err, ST_USAGE, "--shard: expected I/N with 0 <= I < N <= %d, like 0/4",
                           MAX_SHARDS);
    }
    if (c->shard_count) {
        if (parse_int(c->shard_count, 1, MAX_SHARDS, &cfg->shard_count) != 0)
            return err_set(err, ST_USAGE, "--shard-count: expected a whole number from 1 to %d",
                           MAX_SHARDS);
        const char *idx = r->v[S_JOB_COMPLETION_INDEX];
        if (!idx)
            return err_set(err, ST_CONFIG,
                           "JOB_COMPLETION_INDEX: not set, and --shard-count needs it (Kubernetes "
                           "sets it in indexed jobs); use --shard I/N elsewhere");
        if (parse_int(idx, 0, cfg->shard_count - 1, &cfg->shard_index) != 0)
            return err_set(err, ST_CONFIG,
                           "JOB_COMPLETION_INDEX: expected a whole number from 0 to %d (below "
                           "--shard-count)",
                           cfg->shard_count - 1);
    }
    const char *ex = r->v[S_EXECUTION_NAME];
    if (ex && (st = set_str(&cfg->execution_name, ex, err)) != ST_OK)
        return st;
    if (c->claim) {
        cfg->claim = 1;
        if (!cfg->execution_name)
            return err_set(err, ST_CONFIG,
                           "CONTAINER_APP_JOB_EXECUTION_NAME: not set, and --claim needs it to "
                           "group the replicas of one execution (Container Apps sets it)");
    }
    if (cfg->execution_name &&
        (strlen(cfg->execution_name) > 200 || !valid_ident(cfg->execution_name, ".-_")))
        return err_set(err, ST_CONFIG,
                       "CONTAINER_APP_JOB_EXECUTION_NAME: expected letters, digits, '.', '-', "
                       "'_' (it names a folder of claims)");
    /* who holds a claim: a retried attempt of this replica takes its own claims back */
    const char *rep = r->v[S_REPLICA_NAME];
    cfg->replica_from_platform = rep != NULL;
    char host[256] = "";
    if (!rep && gethostname(host, sizeof host - 1) == 0)
        rep = host;
    if (rep && *rep && (st = set_str(&cfg->replica_name, rep, err)) != ST_OK)
        return st;
    return ST_OK;
}

static status hook_log_format(config *cfg, const reading *r, errinfo *err)
{
    (void)err;
    if (!r->v[S_LOG_FORMAT])
        cfg->log_format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    return ST_OK;
}

/* ---- what the table drives ---- */

/* Finds each setting's value: its flag, else its variable, else its older names. */
static void settings_read(reading *r, const cli *c, command cmd)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->cmd = cmd;
    for (size_t i = 0; i < S_COUNT; i++) {
        const setting *s = &settings[i];
        r->from[i] = s->name;
        if (s->external)
            continue;
        if (c->setting[i]) {
            r->v[i] = c->setting[i];
            r->from[i] = s->flag;
            r->by_flag[i] = 1;
            continue;
        }
        if ((r->v[i] = env(s->name)) != NULL)
            continue;
        for (size_t k = 0; k < sizeof s->legacy / sizeof s->legacy[0] && s->legacy[k]; k++)
            if ((r->v[i] = env(s->legacy[k])) != NULL) {
                r->from[i] = s->legacy[k];
                break;
            }
    }
}

/* 1 when the table stores the value by its type (no hook reads it raw). */
static int stored(const setting *s)
{
    return !s->raw && !s->external &&
           (s->type == T_INT || s->type == T_ENUM || s->type == T_TEXT || s->type == T_DIR ||
            s->type == T_URL);
}

/* "a, b or c": the choices shown (aliases are accepted, not shown). */
static void choices_text(const setting *s, const char *sep, const char *last, char *out, size_t n)
{
    size_t shown = 0, k = 0;
    for (const setting_choice *c = s->choices; c->name; c++)
        shown += !c->alias;
    out[0] = '\0';
    for (const setting_choice *c = s->choices; c->name; c++) {
        if (c->alias)
            continue;
        size_t used = strlen(out);
        snprintf(out + used, n - used, "%s%s", k == 0 ? "" : k + 1 == shown ? last : sep, c->name);
        k++;
    }
}

/* Parses v as setting i's value into its field; `from` names it in a message (a flag's
 * bad value is a usage error). */
static status setting_store(config *cfg, size_t i, const char *v, const char *from, int by_flag,
                            errinfo *err)
{
    const setting *s = &settings[i];
    void *field = (char *)cfg + s->off;
    switch (s->type) {
    case T_INT:
        if (parse_int(v, s->lo, s->hi, (int *)field) == 0)
            return ST_OK;
        if (by_flag)
            return err_set(err, ST_USAGE, "%s: expected a whole number from %ld to %ld", from,
                           s->lo, s->hi);
        return err_set(err, ST_CONFIG,
                       "%s: expected a whole number from %ld to %ld; set it to such a number or "
                       "unset it for the default",
                       from, s->lo, s->hi);
    case T_ENUM: {
        char *t = dup_trim(v);
        if (!t)
            return nomem(err);
        const setting_choice *c = s->choices;
        while (c->name && strcasecmp(c->name, t) != 0)
            c++;
        free(t);
        if (c->name) {
            *(int *)field = c->value;
            return ST_OK;
        }
        char list[160];
        choices_text(s, ", ", " or ", list, sizeof list);
        return err_set(err, by_flag ? ST_USAGE : ST_CONFIG, "%s: expected %s%s", from, list,
                       s->hint ? s->hint : "");
    }
    case T_TEXT:
    case T_DIR:
        return set_str((char **)field, v, err);
    case T_URL:
        return check_url(from, v, URL_HTTP_LOOPBACK, 0, (char **)field, err);
    default:
        return ST_OK;
    }
}

/* Every default, as if it were given: a default out of its own bounds fails here. */
static status settings_defaults(config *cfg, errinfo *err)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        const setting *s = &settings[i];
        status st;
        if (stored(s) && s->def && (st = setting_store(cfg, i, s->def, s->name, 0, err)) != ST_OK)
            return st;
    }
    return ST_OK;
}

/* Checks, in table order, every setting the command reads, and a setting's flag
 * wherever it is given; then the setting's hook. */
static status settings_check(config *cfg, const reading *r, errinfo *err)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        const setting *s = &settings[i];
        int read = (s->when & (1u << r->cmd)) != 0;
        status st;
        if (!read && !(r->by_flag[i] && stored(s)))
            continue;
        if (r->v[i] && stored(s) &&
            (st = setting_store(cfg, i, r->v[i], r->from[i], r->by_flag[i], err)) != ST_OK)
            return st;
        if (read && s->hook && (st = s->hook(cfg, r, err)) != ST_OK)
            return st;
    }
    return ST_OK;
}

/* ---- the table as text ---- */

/* What a value looks like and its default, in words: "N from 1 to 3650, default 30". */
static status doc_kind(buf *b, const setting *s, int markdown, errinfo *err)
{
    static const char *const words[] = {
        [T_INT] = "N",   [T_ENUM] = "",     [T_TEXT] = "text", [T_DIR] = "folder",
        [T_URL] = "URL", [T_LIST] = "list", [T_FILE] = "file", [T_SECRET] = "secret"};
    const char *q = markdown ? "`" : "";
    status st;
    if (s->type == T_ENUM) {
        char list[160];
        choices_text(s, markdown ? "`, `" : "|", markdown ? "`, `" : "|", list, sizeof list);
        st = buf_appendf(b, err, "%s%s%s", q, list, q);
    } else if (s->type == T_INT && !s->raw) {
        st = buf_appendf(b, err, "N from %ld to %ld", s->lo, s->hi);
    } else {
        st = buf_appends(b, words[s->type], err);
    }
    if (st == ST_OK && s->def_doc)
        st = buf_appendf(b, err, ", default %s", s->def_doc);
    else if (st == ST_OK && s->def && s->def[0])
        st = buf_appendf(b, err, ", default %s%s%s", q, s->def, q);
    return st;
}

/* Appends text with `|` escaped (it would end a Markdown table cell). */
static status md_cell(buf *b, const char *text, errinfo *err)
{
    status st = ST_OK;
    for (const char *p = text; *p && st == ST_OK; p++)
        st = *p == '|' ? buf_appends(b, "\\|", err) : buf_append(b, p, 1, err);
    return st;
}

/* The names a setting is read under: "AZURE_CLIENT_SECRET (or client_secret,
 * client_screte), --flag ARG". */
static status doc_names(buf *b, const setting *s, int markdown, errinfo *err)
{
    const char *q = markdown ? "`" : "";
    status st = buf_appendf(b, err, "%s%s%s", q, s->name, q);
    for (size_t k = 0; st == ST_OK && k < sizeof s->legacy / sizeof s->legacy[0] && s->legacy[k];
         k++)
        st = buf_appendf(b, err, "%s%s%s%s", k == 0 ? " (or " : ", ", q, s->legacy[k], q);
    if (st == ST_OK && s->legacy[0])
        st = buf_appends(b, ")", err);
    if (st == ST_OK && s->flag) {
        st = buf_appendf(b, err, ", %s%s ", q, s->flag);
        if (st == ST_OK)
            st = markdown ? md_cell(b, s->arg, err) : buf_appends(b, s->arg, err);
        if (st == ST_OK)
            st = buf_appends(b, q, err);
    }
    return st;
}

/* The help, wrapped at 88 columns, each line indented 6 spaces. */
static status doc_wrap(buf *b, const char *text, errinfo *err)
{
    enum { INDENT = 6, WIDTH = 88 };
    status st = ST_OK;
    size_t col = 0;
    for (const char *p = text; *p && st == ST_OK;) {
        size_t n = strcspn(p, " ");
        if (col > 0 && col + 1 + n > WIDTH) {
            st = buf_appends(b, "\n", err);
            col = 0;
        }
        if (st == ST_OK)
            st = col == 0 ? buf_appendf(b, err, "%*s", INDENT, "") : buf_appends(b, " ", err);
        col += col == 0 ? INDENT : 1;
        if (st == ST_OK)
            st = buf_append(b, p, n, err);
        col += n;
        p += n;
        p += strspn(p, " ");
    }
    return st == ST_OK ? buf_appends(b, "\n", err) : st;
}

char *config_settings_doc(config_doc format)
{
    buf b;
    buf_init(&b, 8192);
    int md = format == CONFIG_DOC_MARKDOWN;
    status st = md ? buf_appends(&b, "| variable | value | meaning |\n|---|---|---|\n", NULL)
                   : buf_appends(&b,
                                 "Environment (a flag beats its variable, a variable its older "
                                 "names; an empty value counts as unset):\n",
                                 NULL);
    for (size_t i = 0; i < S_COUNT && st == ST_OK; i++) {
        const setting *s = &settings[i];
        st = buf_appends(&b, md ? "| " : "  ", NULL);
        if (st == ST_OK)
            st = doc_names(&b, s, md, NULL);
        if (st == ST_OK)
            st = buf_appends(&b, md ? " | " : "   ", NULL);
        if (st == ST_OK)
            st = doc_kind(&b, s, md, NULL);
        if (md) {
            if (st == ST_OK)
                st = buf_appends(&b, " | ", NULL);
            if (st == ST_OK)
                st = md_cell(&b, s->help, NULL);
            if (st == ST_OK)
                st = buf_appends(&b, " |\n", NULL);
        } else {
            if (st == ST_OK)
                st = buf_appends(&b, "\n", NULL);
            if (st == ST_OK)
                st = doc_wrap(&b, s->help, NULL);
        }
    }
    if (st != ST_OK) {
        buf_dispose(&b);
        return NULL;
    }
    return buf_take(&b);
}

status config_load(config *cfg, int argc, char **argv, errinfo *err)
{
    memset(cfg, 0, sizeof *cfg);
    cli c;
    status st = settings_defaults(cfg, err);
    if (st == ST_OK && !(cfg->imds_endpoint = strdup(DEFAULT_IMDS)))
        st = nomem(err);
    if (st != ST_OK)
        goto fail_nocli;
    st = parse_cli(&c, argc, argv, err);
    if (st != ST_OK)
        goto fail;

    const char *cmd = c.command ? c.command : "run";
    if (c.help || strcmp(cmd, "help") == 0) {
        cfg->cmd = CMD_HELP;
        goto done;
    }
    if (c.version || strcmp(cmd, "version") == 0) {
        cfg->cmd = CMD_VERSION;
        goto done;
    }
    cfg->cmd = strcmp(cmd, "convert") == 0   ? CMD_CONVERT
               : strcmp(cmd, "check") == 0   ? CMD_CHECK
               : strcmp(cmd, "schema") == 0  ? CMD_SCHEMA
               : strcmp(cmd, "audit") == 0   ? CMD_AUDIT
               : strcmp(cmd, "compact") == 0 ? CMD_COMPACT
                                             : CMD_RUN;
    if (c.sql && cfg->cmd != CMD_SCHEMA) {
        st = err_set(err, ST_USAGE, "--sql goes with the schema command only");
        goto fail;
    }
    if ((c.since || c.until) && cfg->cmd != CMD_RUN && cfg->cmd != CMD_AUDIT) {
        st = err_set(err, ST_USAGE, "--since and --until go with the run and audit commands only");
        goto fail;
    }
    if ((c.claim || c.shard || c.shard_count) && cfg->cmd != CMD_RUN) {
        st = err_set(err, ST_USAGE,
                     "--shard, --shard-count and --claim go with the run command only");
        goto fail;
    }
    if ((c.before || c.table) && cfg->cmd != CMD_COMPACT) {
        st = err_set(err, ST_USAGE, "--before and --table go with the compact command only");
        goto fail;
    }
    cfg->schema_sql = c.sql;
    reading r;
    settings_read(&r, &c, cfg->cmd);
    if (cfg->cmd != CMD_SCHEMA && cfg->cmd != CMD_CONVERT &&
        (st = load_window(cfg, &c, err)) != ST_OK)
        goto fail;
    if ((st = settings_check(cfg, &r, err)) != ST_OK)
        goto fail;

    if (cfg->cmd == CMD_COMPACT) {
        /* a date, so that a month folder is never cut inside a day */
        if (!c.before || strlen(c.before) != 10 ||
            config_parse_time(c.before, &cfg->compact_before_us) != 0) {
            st = err_set(err, ST_USAGE, "compact needs --before DATE (YYYY-MM-DD, UTC)");
            goto fail;
        }
        if (c.table && (st = set_str(&cfg->compact_table, c.table, err)) != ST_OK)
            goto fail;
        goto done;
    }

    if (cfg->cmd == CMD_CONVERT) {
        if (c.ninputs == 0) {
            st = err_set(err, ST_USAGE, "convert needs at least one FILE (a final JSON snapshot)");
            goto fail;
        }
        const char *dir = r.v[S_OUTPUT_DIR];
        if (!dir) {
            st = err_set(err, ST_USAGE, "convert needs --output-dir DIR");
            goto fail;
        }
        cfg->storage = STORAGE_DIR;
        if ((st = set_output_dir(cfg, dir, err)) != ST_OK)
            goto fail;
        cfg->inputs = calloc(c.ninputs, sizeof *cfg->inputs);
        if (!cfg->inputs) {
            st = nomem(err);
            goto fail;
        }
        for (size_t i = 0; i < c.ninputs; i++) {
            if (!(cfg->inputs[i] = strdup(c.inputs[i]))) {
                st = nomem(err);
                goto fail;
            }
            cfg->ninputs++;
        }
    }

done:
    free(c.inputs);
    return ST_OK;
fail:
    free(c.inputs);
fail_nocli:
    config_dispose(cfg);
    return st;
}

void config_dispose(config *cfg)
{
    if (!cfg)
        return;
    char **strs[] = {&cfg->tenant,
                     &cfg->client_id,
                     &cfg->client_secret,
                     &cfg->cert_path,
                     &cfg->federated_token_file,
                     &cfg->authority_host,
                     &cfg->graph_host,
                     &cfg->connection_string,
                     &cfg->account_url,
                     &cfg->sas_token,
                     &cfg->output_dir,
                     &cfg->container,
                     &cfg->prefix,
                     &cfg->identity_endpoint,
                     &cfg->identity_header,
                     &cfg->imds_endpoint,
                     &cfg->managed_identity_client_id,
                     &cfg->execution_name,
                     &cfg->replica_name,
                     &cfg->tmpdir,
                     &cfg->compact_table};
    char *secrets[] = {cfg->client_secret, cfg->connection_string, cfg->sas_token,
                       cfg->identity_header};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (secrets[i])
            secret_wipe(secrets[i], strlen(secrets[i]));
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    for (size_t i = 0; i < cfg->nusers; i++)
        free(cfg->users[i]);
    free(cfg->users);
    for (size_t i = 0; i < cfg->nlegacy_users; i++)
        free(cfg->legacy_users[i]);
    free(cfg->legacy_users);
    for (size_t i = 0; i < cfg->ngroups; i++)
        free(cfg->groups[i]);
    free(cfg->groups);
    for (size_t i = 0; i < cfg->nsnapshot_omit; i++)
        free(cfg->snapshot_omit[i]);
    free(cfg->snapshot_omit);
    for (size_t i = 0; i < cfg->ninputs; i++)
        free(cfg->inputs[i]);
    free(cfg->inputs);
    memset(cfg, 0, sizeof *cfg);
}
