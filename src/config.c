/* Settings from the command line and the environment: see config.h, and the README's
 * table of settings.
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

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_GRAPH "https://graph.microsoft.com"
#define DEFAULT_IMDS "http://169.254.169.254/metadata/identity/oauth2/token"
#define DEFAULT_CONTAINER "teams-attendance"
#define MAX_USERS 1000000
#define MAX_UPN_LEN 320
#define MAX_PREFIX_LEN 512
#define MAX_SHARDS 100000

/* The --help text, generated from docs/teams-attendance.1.txt (the man page's
 * source too) by scripts/cli-doc.awk: edit it there. One literal a line: C caps a
 * single string literal at 4095 bytes. */
static const char *const usage_lines[] = {
#include "usage.inc"
};

const char *config_usage(void)
{
    static char text[16384];
    if (!text[0]) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof usage_lines / sizeof usage_lines[0]; i++) {
            size_t k = strlen(usage_lines[i]);
            if (n + k >= sizeof text)
                break;
            memcpy(text + n, usage_lines[i], k);
            n += k;
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

/* The first variable of names[] that is set; *which gets its name. */
static const char *env_first(const char *const *names, const char **which)
{
    for (; *names; names++) {
        const char *v = env(*names);
        if (v) {
            if (which)
                *which = *names;
            return v;
        }
    }
    return NULL;
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
static status int_setting(const char *flag, const char *flag_value, const char *var, long lo,
                          long hi, int *out, errinfo *err)
{
    const char *v = flag_value ? flag_value : env(var);
    if (!v)
        return ST_OK;
    if (parse_int(v, lo, hi, out) != 0) {
        if (flag_value)
            return err_set(err, ST_USAGE, "%s: expected a whole number from %ld to %ld", flag, lo,
                           hi);
        return err_set(err, ST_CONFIG,
                       "%s: expected a whole number from %ld to %ld; set it to such a number or "
                       "unset it for the default",
                       var, lo, hi);
    }
    return ST_OK;
}

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
        buf_free(&b);
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

typedef struct cli {
    const char *command;
    const char *since, *until, *users, *groups, *output_dir, *concurrency, *log_format, *log_level,
        *shard, *shard_count, *before, *table;
    int claim, sql, help, version;
    char **inputs;
    size_t ninputs;
} cli;

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
    VALUE_OPT("--since", since),
    VALUE_OPT("--until", until),
    VALUE_OPT("--users", users),
    VALUE_OPT("--groups", groups),
    VALUE_OPT("--output-dir", output_dir),
    VALUE_OPT("--concurrency", concurrency),
    VALUE_OPT("--log-format", log_format),
    VALUE_OPT("--log-level", log_level),
    VALUE_OPT("--shard", shard),
    VALUE_OPT("--shard-count", shard_count),
    VALUE_OPT("--before", before),
    VALUE_OPT("--table", table),
    FLAG_OPT("--claim", claim),
    FLAG_OPT("--sql", sql),
    FLAG_OPT("--help", help),
    FLAG_OPT("-h", help),
    FLAG_OPT("--version", version),
    FLAG_OPT("-V", version),
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
        const opt_def *d = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
            if (strlen(options[k].name) == nl && strncmp(options[k].name, a, nl) == 0)
                d = &options[k];
        if (!d)
            return err_set(err, ST_USAGE, "unknown option \"%.*s\" (see --help)",
                           (int)(nl > 64 ? 64 : nl), a);
        if (d->is_flag) {
            if (eq)
                return err_set(err, ST_USAGE, "option %s takes no value", d->name);
            *(int *)((char *)c + d->field) = 1;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc)
                return err_set(err, ST_USAGE, "option %s needs a value", d->name);
            v = argv[++i];
        }
        if (blank(v))
            return err_set(err, ST_USAGE, "option %s needs a value", d->name);
        *(const char **)((char *)c + d->field) = v;
    }
    return ST_OK;
}

/* ---- the settings ---- */

static status load_logging(config *cfg, const cli *c, errinfo *err)
{
    cfg->log_format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    const char *f = c->log_format ? c->log_format : env("LOG_FORMAT");
    if (f) {
        char *t = dup_trim(f);
        if (!t)
            return nomem(err);
        int ok = 1;
        if (strcasecmp(t, "json") == 0)
            cfg->log_format = LOG_FORMAT_JSON;
        else if (strcasecmp(t, "text") == 0)
            cfg->log_format = LOG_FORMAT_TEXT;
        else
            ok = 0;
        free(t);
        if (!ok)
            return c->log_format ? err_set(err, ST_USAGE, "--log-format: expected json or text")
                                 : err_set(err, ST_CONFIG, "LOG_FORMAT: expected json or text");
    }
    cfg->log_level = LOG_INFO;
    const char *l = c->log_level ? c->log_level : env("LOG_LEVEL");
    if (l) {
        char *t = dup_trim(l);
        if (!t)
            return nomem(err);
        int bad = log_level_parse(t, &cfg->log_level) != 0;
        free(t);
        if (bad)
            return c->log_level
                       ? err_set(err, ST_USAGE, "--log-level: expected debug, info, warn or error")
                       : err_set(err, ST_CONFIG, "LOG_LEVEL: expected debug, info, warn or error");
    }
    return ST_OK;
}

static status load_parquet(config *cfg, errinfo *err)
{
    cfg->codec = PQ_CODEC_SNAPPY;
    const char *v = env("ATTENDANCE_PARQUET_COMPRESSION");
    if (v) {
        char *t = dup_trim(v);
        if (!t)
            return nomem(err);
        int ok = 1;
        if (strcasecmp(t, "snappy") == 0)
            cfg->codec = PQ_CODEC_SNAPPY;
        else if (strcasecmp(t, "zstd") == 0)
            cfg->codec = PQ_CODEC_ZSTD;
        else if (strcasecmp(t, "none") == 0 || strcasecmp(t, "uncompressed") == 0)
            cfg->codec = PQ_CODEC_NONE;
        else
            ok = 0;
        free(t);
        if (!ok)
            return err_set(err, ST_CONFIG,
                           "ATTENDANCE_PARQUET_COMPRESSION: expected snappy, zstd or none");
    }
    cfg->int96_timestamps = 0;
    v = env("ATTENDANCE_PARQUET_TIMESTAMPS");
    if (v) {
        char *t = dup_trim(v);
        if (!t)
            return nomem(err);
        int ok = 1;
        if (strcasecmp(t, "micros") == 0)
            cfg->int96_timestamps = 0;
        else if (strcasecmp(t, "int96") == 0)
            cfg->int96_timestamps = 1;
        else
            ok = 0;
        free(t);
        if (!ok)
            return err_set(err, ST_CONFIG,
                           "ATTENDANCE_PARQUET_TIMESTAMPS: expected micros or int96 (int96 for "
                           "the dedicated SQL pool's older reader)");
    }
    return ST_OK;
}

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
static status load_identity_endpoint(config *cfg, errinfo *err)
{
    status st;
    const char *ie = env("IDENTITY_ENDPOINT");
    if (ie) {
        if ((st = check_url("IDENTITY_ENDPOINT", ie, URL_HTTP_ANY, 0, &cfg->identity_endpoint,
                            err)) != ST_OK)
            return st;
        const char *ih = env("IDENTITY_HEADER");
        if (!ih)
            return err_set(err, ST_CONFIG,
                           "IDENTITY_HEADER: not set while IDENTITY_ENDPOINT is; the platform "
                           "sets both when the app has a managed identity");
        if ((st = set_str(&cfg->identity_header, ih, err)) != ST_OK)
            return st;
        secret_add(cfg->identity_header);
    }
    const char *pod = env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
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
static int identity_endpoint_present(const config *cfg)
{
    return cfg->identity_endpoint || env("AZURE_POD_IDENTITY_AUTHORITY_HOST") || azure_vm();
}

static status load_credentials(config *cfg, errinfo *err)
{
    static const char *const tenant_vars[] = {"AZURE_TENANT_ID", "tenant", NULL};
    static const char *const client_vars[] = {"AZURE_CLIENT_ID", "client_id", NULL};
    static const char *const secret_vars[] = {"AZURE_CLIENT_SECRET", "client_secret",
                                              "client_screte", NULL};
    const char *which = NULL, *secret_var = NULL;
    status st;
    const char *secret = env_first(secret_vars, &secret_var);
    const char *cert = env("AZURE_CLIENT_CERTIFICATE_PATH");
    const char *fed = env("AZURE_FEDERATED_TOKEN_FILE");
    /* With none of the three, a managed identity endpoint logs in to Graph; tenant
     * and client id are then optional (the client id names a user-assigned identity). */
    int mi = 0;
    if (!secret && !cert && !fed) {
        if ((st = load_identity_endpoint(cfg, err)) != ST_OK)
            return st;
        mi = identity_endpoint_present(cfg);
        if (!mi) /* first: with a managed identity, tenant and client id are optional */
            return err_set(err, ST_CONFIG,
                           "no Graph credential: set AZURE_CLIENT_SECRET (or client_secret), or "
                           "AZURE_CLIENT_CERTIFICATE_PATH (PEM with key and certificate), or "
                           "AZURE_FEDERATED_TOKEN_FILE (workload identity), or run with a "
                           "managed identity (IDENTITY_ENDPOINT and IDENTITY_HEADER, as Container "
                           "Apps and App Service set them, or the VM metadata endpoint, moved by "
                           "AZURE_POD_IDENTITY_AUTHORITY_HOST)");
    }
    const char *v = env_first(tenant_vars, &which);
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
    v = env_first(client_vars, &which);
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

    v = env("AZURE_AUTHORITY_HOST");
    if ((st = check_url("AZURE_AUTHORITY_HOST", v ? v : DEFAULT_AUTHORITY, URL_HTTP_LOOPBACK, 0,
                        &cfg->authority_host, err)) != ST_OK)
        return st;
    v = env("GRAPH_ENDPOINT");
    if ((st = check_url("GRAPH_ENDPOINT", v ? v : DEFAULT_GRAPH, URL_HTTP_LOOPBACK, 0,
                        &cfg->graph_host, err)) != ST_OK)
        return st;
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
static status load_legacy_users(config *cfg, errinfo *err)
{
    user_set u = {0};
    status st = ST_OK;
    const char *v = env("SGA_UPN");
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

static status load_groups(config *cfg, const cli *c, errinfo *err)
{
    const char *from = c->groups ? "--groups" : "ATTENDANCE_GROUPS";
    const char *list = c->groups ? c->groups : env("ATTENDANCE_GROUPS");
    if (!list)
        return ST_OK;
    status bad = c->groups ? ST_USAGE : ST_CONFIG;
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

static status load_users(config *cfg, const cli *c, errinfo *err)
{
    user_set u = {0};
    status st = ST_OK;
    if (c->users) {
        st = users_add_list(&u, c->users, "--users", err);
        if (st == ST_CONFIG) {
            st = ST_USAGE;
            if (err)
                err->code = ST_USAGE;
        }
        cfg->nusers_listed = u.n;
    } else {
        const char *v = env("ATTENDANCE_USERS");
        if (v)
            st = users_add_list(&u, v, "ATTENDANCE_USERS", err);
        cfg->nusers_listed = u.n;
        v = env("SGA_UPN");
        if (st == ST_OK && v)
            st = users_add_list(&u, v, "SGA_UPN", err);
        if (st == ST_OK)
            st = users_add_numbered(&u, err);
    }
    /* a group alone is enough: its members are the mailboxes */
    if (st == ST_OK && u.n == 0 && (c->users || cfg->ngroups == 0))
        st = c->users ? err_set(err, ST_USAGE, "--users: no mailbox in the list")
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
    return load_legacy_users(cfg, err);
}

static status load_storage(config *cfg, const cli *c, errinfo *err)
{
    status st;
    const char *container = env("ATTENDANCE_CONTAINER");
    if (container) {
        if ((st = set_str(&cfg->container, container, err)) != ST_OK)
            return st;
        if (!valid_container(cfg->container))
            return err_set(err, ST_CONFIG,
                           "ATTENDANCE_CONTAINER: not a valid container name (3 to 63 "
                           "characters: lower-case letters, digits and single hyphens, starting "
                           "and ending with a letter or digit)");
    }
    const char *prefix = env("ATTENDANCE_PREFIX");
    if (prefix) {
        char *t = dup_trim(prefix);
        if (!t)
            return nomem(err);
        st = normalise_prefix(t, &cfg->prefix, err);
        free(t);
        if (st != ST_OK)
            return st;
    }

    if (c->output_dir) {
        cfg->storage = STORAGE_DIR;
        return set_output_dir(cfg, c->output_dir, err);
    }
    const char *cs = env("AZURE_STORAGE_CONNECTION_STRING");
    const char *url = env("AZURE_STORAGE_ACCOUNT_URL");
    const char *dir = env("ATTENDANCE_OUTPUT_DIR");
    const char *sas = env("AZURE_STORAGE_SAS_TOKEN");
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
    if ((st = load_identity_endpoint(cfg, err)) != ST_OK)
        return st;
    const char *mi = env("ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID");
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
static status load_snapshot_omit(config *cfg, errinfo *err)
{
    const char *v = env("ATTENDANCE_SNAPSHOT_OMIT");
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

static status load_files(config *cfg, errinfo *err)
{
    const char *t = env("ATTENDANCE_TMPDIR");
    if (!t)
        t = env("TMPDIR");
    if (!t)
        t = "/tmp";
    if (t[0] != '/')
        return err_set(err, ST_CONFIG,
                       "ATTENDANCE_TMPDIR (or TMPDIR): \"%.200s\" is not an absolute folder", t);
    status st = set_str(&cfg->tmpdir, t, err);
    if (st == ST_OK)
        st = load_snapshot_omit(cfg, err);
    return st;
}

static status load_numbers(config *cfg, const cli *c, errinfo *err)
{
    status st;
    if ((st = int_setting(NULL, NULL, "ATTENDANCE_FIRST_RUN_DAYS", 1, 3650, &cfg->first_run_days,
                          err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_OVERLAP_MINUTES", 0, 10080, &cfg->overlap_minutes,
                          err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_SETTLE_MINUTES", 0, 10080, &cfg->settle_minutes,
                          err)) != ST_OK ||
        (st = int_setting("--concurrency", c->concurrency, "ATTENDANCE_CONCURRENCY", 1, 10000,
                          &cfg->concurrency, err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_HTTP_TIMEOUT_SECONDS", 1, 3600,
                          &cfg->http_timeout_s, err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_MAX_RETRIES", 0, 100, &cfg->max_retries, err)) !=
            ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_MAX_RETRY_WAIT_SECONDS", 1, 3600,
                          &cfg->max_retry_wait_s, err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_MAX_PAGES", 1, 1000000, &cfg->max_pages, err)) !=
            ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_TRACK_DAYS", 0, 3650, &cfg->track_days, err)) !=
            ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_CLAIM_LEASE_MINUTES", 1, 10080,
                          &cfg->claim_lease_minutes, err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_MAILBOX_MAX_MB", 1, 65536, &cfg->mailbox_max_mb,
                          err)) != ST_OK ||
        (st = int_setting(NULL, NULL, "ATTENDANCE_MAX_RESPONSE_MB", 1, 1024, &cfg->max_response_mb,
                          err)) != ST_OK)
        return st;
    return load_files(cfg, err);
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

static status load_scale(config *cfg, const cli *c, errinfo *err)
{
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
        const char *idx = env("JOB_COMPLETION_INDEX");
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
    const char *ex = env("CONTAINER_APP_JOB_EXECUTION_NAME");
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
    const char *rep = env("CONTAINER_APP_REPLICA_NAME");
    cfg->replica_from_platform = rep != NULL;
    char host[256] = "";
    if (!rep && gethostname(host, sizeof host - 1) == 0)
        rep = host;
    if (rep && *rep && (st = set_str(&cfg->replica_name, rep, err)) != ST_OK)
        return st;
    return ST_OK;
}

static status set_defaults(config *cfg, errinfo *err)
{
    cfg->first_run_days = 30;
    cfg->overlap_minutes = 5;
    cfg->settle_minutes = 60;
    cfg->concurrency = 256;
    cfg->http_timeout_s = 60;
    cfg->max_retries = 6;
    cfg->max_retry_wait_s = 300;
    cfg->max_pages = 10000;
    cfg->track_days = 30;
    cfg->claim_lease_minutes = 60;
    cfg->mailbox_max_mb = 512;
    cfg->max_response_mb = 64;
    cfg->codec = PQ_CODEC_SNAPPY;
    cfg->log_level = LOG_INFO;
    if (!(cfg->container = strdup(DEFAULT_CONTAINER)) || !(cfg->prefix = strdup("")) ||
        !(cfg->authority_host = strdup(DEFAULT_AUTHORITY)) ||
        !(cfg->graph_host = strdup(DEFAULT_GRAPH)) || !(cfg->imds_endpoint = strdup(DEFAULT_IMDS)))
        return nomem(err);
    return ST_OK;
}

status config_load(config *cfg, int argc, char **argv, errinfo *err)
{
    memset(cfg, 0, sizeof *cfg);
    cli c;
    status st = set_defaults(cfg, err);
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
    if ((st = load_logging(cfg, &c, err)) != ST_OK || (st = load_parquet(cfg, err)) != ST_OK)
        goto fail;
    if (c.concurrency && (st = int_setting("--concurrency", c.concurrency, "ATTENDANCE_CONCURRENCY",
                                           1, 10000, &cfg->concurrency, err)) != ST_OK)
        goto fail;

    if (cfg->cmd == CMD_SCHEMA)
        goto done;
    if (cfg->cmd == CMD_CONVERT) {
        if (c.ninputs == 0) {
            st = err_set(err, ST_USAGE, "convert needs at least one FILE (a final JSON snapshot)");
            goto fail;
        }
        const char *dir = c.output_dir ? c.output_dir : env("ATTENDANCE_OUTPUT_DIR");
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
        goto done;
    }

    if (cfg->cmd == CMD_COMPACT) {
        /* a date, so that a month folder is never cut inside a day */
        if (!c.before || strlen(c.before) != 10 ||
            config_parse_time(c.before, &cfg->compact_before_us) != 0) {
            st = err_set(err, ST_USAGE, "compact needs --before DATE (YYYY-MM-DD, UTC)");
            goto fail;
        }
        if (c.table && (st = set_str(&cfg->compact_table, c.table, err)) != ST_OK)
            goto fail;
        if ((st = load_numbers(cfg, &c, err)) != ST_OK ||
            (st = load_storage(cfg, &c, err)) != ST_OK)
            goto fail;
        goto done;
    }

    /* run, check and audit */
    if ((st = load_window(cfg, &c, err)) != ST_OK || (st = load_scale(cfg, &c, err)) != ST_OK ||
        (st = load_groups(cfg, &c, err)) != ST_OK || (st = load_users(cfg, &c, err)) != ST_OK ||
        (st = load_numbers(cfg, &c, err)) != ST_OK || (st = load_credentials(cfg, err)) != ST_OK ||
        (st = load_storage(cfg, &c, err)) != ST_OK)
        goto fail;

done:
    free(c.inputs);
    return ST_OK;
fail:
    free(c.inputs);
fail_nocli:
    config_free(cfg);
    return st;
}

void config_free(config *cfg)
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
