/* The HTTP engine: curl multi handles (pools), requests waiting for a slot or for
 * their retry time, caps in all and per group, retries. See http.h.
 *
 * Connections are split among pools of at most POOL_WIDTH requests in flight, each
 * its own multi handle: libcurl walks every connection to a host each time a transfer
 * looks for one to reuse, and again (once per dead one) when it prunes the dead each
 * second. With 4,000 connections to one host that walking was 41% of the job's CPU.
 *
 * Slots go to the groups with the fewest requests in flight, in turn: taken in
 * arrival order, a mailbox that queued early would hold its 4 slots to its end
 * while later ones waited, and the run would end on a tail of a few mailboxes
 * using a fraction of the slots.
 *
 * Lifecycle of a request: queued -> started (an easy handle, attempt headers,
 * auth hook) -> finished attempt -> either requeued with a not-before time, or
 * completed (callback, then freed). Everything runs on the caller's thread
 * inside http_run / http_perform. */
#include "http/http.h"
#include "secret.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#include "log.h"
#include "util/timeutil.h"

struct http_request {
    char *method;
    char *url;
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    int body_owned;
    int flags;
    int group;
    http_auth_fn auth;
    void *auth_ctx;
    http_prepare_fn prepare;
    void *prepare_ctx;

    /* engine state */
    http_engine *eng;
    http_done_fn done;
    void *done_ctx;
    int attempts;
    int renewed; /* the codes (401, 403) that already renewed the token once */
    int want_renew;
    int too_large;
    int64_t sent_us; /* when its last attempt started (before it, 0) */
    int admitted;    /* its body may be taken in (see on_body) */
    size_t held;     /* what its answer counts for in the engine's body_total */
    int paused;      /* waiting in the engine's paused list */
    struct http_request *pnext;
    int64_t not_before_ms;
    CURL *easy;
    int pool; /* the pool its attempt runs in */
    struct curl_slist *attempt_headers;
    struct outcome *out; /* from its first attempt on */
    struct http_request *next;
};

/* What an attempt fills: allocated when the request first starts, since a run may
 * hold tens of thousands of requests queued (each mailbox's lookups and pages). */
typedef struct outcome {
    http_result res;
    char errbuf[CURL_ERROR_SIZE];
} outcome;

typedef struct group_state {
    int in_flight;
    int cap;
    int successes;
    http_request *qhead, *qtail; /* ready to start, in order */
    int nq;                      /* how many */
    int startable;               /* of them, how many its cap lets start now */
    int level;                   /* the ready list it is in (its in_flight), or -1 */
    int lprev, lnext;            /* neighbours in that list, -1 at the ends */
} group_state;

typedef struct group_list {
    int head, tail;
} group_list;

/* The size a response is taken to have before any was seen. */
#define FIRST_RESPONSE_GUESS ((size_t)256 << 10)

/* Requests in flight a pool is meant for (see the top), and the most pools. */
#define POOL_WIDTH 32
#define MAX_POOLS 512

typedef struct pool {
    CURLM *multi;
    http_engine *eng;
    int64_t timer_at; /* when libcurl wants its timeout action (monotonic ms), or -1 */
    int in_flight;
} pool;

/* An epoll event's data: the pool in the high half, the descriptor in the low. */
#define EV_WATCHED UINT32_MAX /* the caller's descriptor (http_watch) */
#define EV_DATA(pool, fd) (((uint64_t)(uint32_t)(pool) << 32) | (uint32_t)(fd))

struct http_engine {
    pool *pools;
    int npools;
    int epfd;     /* the sockets libcurl asked to watch, and watch_fd */
    int watch_fd; /* the caller's (http_watch), or -1 */
    http_limits lim;
    http_stats stats;
    http_request *head, *tail; /* ready requests of no group */
    http_request *later;       /* waiting for their retry time */
    size_t queued;             /* requests waiting, wherever */
    int nhead;                 /* ready requests of no group */
    long startable;            /* ready requests of groups that their caps let start */
    group_list *ready;         /* [n]: groups with requests ready and n in flight */
    int in_flight;
    size_t body_total; /* response memory held by the answers coming in (see hold) */
    size_t body_big;   /* a large recent response size, decaying: what a new request may
                          come to hold */
    http_request *paused_head, *paused_tail; /* answers waiting to be taken in */
    group_state *groups;
    size_t ngroups;
    int in_step; /* a turn of the loop is running: hooks and callbacks are inside it */
    unsigned rng;
};

/* Header lists hold the Authorization line (a bearer token, a Shared Key signature):
 * wiped before they go back to the allocator. */
static void headers_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        if (i->data)
            secret_wipe(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libcurl names the sockets to watch (CURLMOPT_SOCKETFUNCTION), and the engine hands
 * back only those with activity: curl_multi_perform and curl_multi_poll walk every
 * transfer on each wakeup, which with thousands in flight cost more than the
 * answers. A watched socket carries its pool as its pointer. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    pool *p = userp;
    http_engine *eng = p->eng;
    if (what == CURL_POLL_REMOVE) {
        /* the socket may be closed already: nothing to undo then */
        (void)epoll_ctl(eng->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(p->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = EV_DATA(p - eng->pools, s);
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(eng->epfd, op, s, &ev) != 0) {
        /* a number libcurl reused for a new socket, or one the kernel forgot on close */
        op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
        if (op < 0 || epoll_ctl(eng->epfd, op, s, &ev) != 0)
            return -1;
    }
    if (!socketp)
        curl_multi_assign(p->multi, s, p);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    pool *p = userp;
    p->timer_at = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
    return 0;
}

void http_limits_default(http_limits *l)
{
    l->timeout_ms = 60000;
    l->max_retries = 6;
    l->max_retry_wait_ms = 300000;
    l->base_backoff_ms = 500;
    l->max_body = 64u << 20;
    l->max_in_flight = 256;
    l->group_cap = 4;
}

status http_engine_new(http_engine **out, const http_limits *limits, errinfo *err)
{
    *out = NULL;
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return err_set(err, ST_INTERNAL, "libcurl could not be initialised");
        global_done = 1;
    }
    http_engine *eng = calloc(1, sizeof *eng);
    if (!eng)
        return err_set(err, ST_NOMEM, "out of memory creating the HTTP engine");
    if (limits)
        eng->lim = *limits;
    else
        http_limits_default(&eng->lim);
    if (eng->lim.max_in_flight < 1)
        eng->lim.max_in_flight = 1;
    if (eng->lim.group_cap < 1)
        eng->lim.group_cap = 1;
    /* until answers are seen, each is taken to be large */
    eng->body_big = FIRST_RESPONSE_GUESS;
    eng->ready = malloc((size_t)eng->lim.group_cap * sizeof *eng->ready);
    if (!eng->ready) {
        free(eng);
        return err_set(err, ST_NOMEM, "out of memory creating the HTTP engine");
    }
    for (int i = 0; i < eng->lim.group_cap; i++)
        eng->ready[i].head = eng->ready[i].tail = -1;
    eng->watch_fd = -1;
    eng->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (eng->epfd < 0) {
        int e = errno;
        free(eng->ready);
        free(eng);
        return err_set(err, ST_INTERNAL, "epoll_create1: %s", strerror(e));
    }
    int np = (eng->lim.max_in_flight + POOL_WIDTH - 1) / POOL_WIDTH;
    np = np > MAX_POOLS ? MAX_POOLS : np;
    eng->pools = calloc((size_t)np, sizeof *eng->pools);
    for (; eng->pools && eng->npools < np; eng->npools++) {
        pool *p = &eng->pools[eng->npools];
        if (!(p->multi = curl_multi_init()))
            break;
        p->eng = eng;
        p->timer_at = -1;
        curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    }
    if (eng->npools < np) {
        http_engine_free(eng);
        return err_set(err, ST_NOMEM, "libcurl could not create a multi handle");
    }
    eng->rng = (unsigned)now_ms() ^ 0x9e3779b9u;
    *out = eng;
    return ST_OK;
}

void http_engine_stats(const http_engine *eng, http_stats *out)
{
    *out = eng->stats;
}

http_request *http_request_new(const char *method, const char *url)
{
    http_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->method = strdup(method);
    r->url = strdup(url);
    r->group = -1;
    if (!r->method || !r->url) {
        http_request_free(r);
        return NULL;
    }
    return r;
}

status http_request_header(http_request *req, const char *line, errinfo *err)
{
    struct curl_slist *l = curl_slist_append(req->headers, line);
    if (!l)
        return err_set(err, ST_NOMEM, "out of memory adding a request header");
    req->headers = l;
    return ST_OK;
}

void http_request_body_take(http_request *req, char *data, size_t len)
{
    if (req->body_owned)
        free(req->body);
    req->body = data;
    req->body_len = len;
    req->body_owned = 1;
}

void http_request_body_ref(http_request *req, const void *data, size_t len)
{
    if (req->body_owned)
        free(req->body);
    req->body = (char *)data;
    req->body_len = len;
    req->body_owned = 0;
}

void http_request_flags(http_request *req, int flags)
{
    req->flags = flags;
}

void http_request_group(http_request *req, int group)
{
    req->group = group;
}

void http_request_auth(http_request *req, http_auth_fn fn, void *ctx)
{
    req->auth = fn;
    req->auth_ctx = ctx;
}

void http_request_prepare(http_request *req, http_prepare_fn fn, void *ctx)
{
    req->prepare = fn;
    req->prepare_ctx = ctx;
}

const char *http_request_method(const http_request *req)
{
    return req->method;
}

int64_t http_request_sent_us(const http_request *req)
{
    return req->sent_us;
}

const char *http_request_url(const http_request *req)
{
    return req->url;
}

const struct curl_slist *http_request_headers(const http_request *req)
{
    return req->headers;
}

size_t http_request_body_len(const http_request *req)
{
    return req->body_len;
}

int http_request_flags_of(const http_request *req)
{
    return req->flags;
}

void http_result_dispose(http_result *res)
{
    if (!res)
        return;
    buf_dispose(&res->body);
    json_decref(res->json);
    res->json = NULL;
    jsontok_dispose(&res->tok);
}

void http_request_free(http_request *req)
{
    if (!req)
        return;
    if (req->easy)
        curl_easy_cleanup(req->easy);
    headers_free(req->attempt_headers);
    headers_free(req->headers);
    if (req->body_owned)
        free(req->body);
    if (req->out) {
        http_result_dispose(&req->out->res);
        free(req->out);
    }
    free(req->method);
    free(req->url);
    free(req);
}

void http_url_for_log(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return;
    size_t n = strcspn(url, "?#");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, url, n);
    out[n] = '\0';
}

/* ---- Retry-After ---------------------------------------------------------- */

long http_parse_retry_after(const char *value, int64_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value) || *value == '.') {
        char *end;
        double secs = strtod(value, &end);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0' || secs != secs || secs < 0)
            return -1;
        if (secs > 86400.0 * 365)
            secs = 86400.0 * 365;
        return (long)(secs * 1000.0 + 0.5);
    }
    int64_t when_us;
    if (timeutil_parse_rfc1123(value, &when_us) != 0)
        return -1;
    int64_t when = when_us / 1000, year = INT64_C(365) * 86400 * 1000;
    if (when - now > year)
        return (long)year;
    return when > now ? (long)(when - now) : 0;
}

/* ---- callbacks from libcurl ---------------------------------------------- */

/* Whether one more answer may not start coming in now: the answers coming in hold
 * the budget, counting each new one at a large recent answer's size. With nothing
 * held, one always may. */
static int bodies_full(const http_engine *eng)
{
    return eng->lim.max_body_total && eng->body_total > 0 &&
           eng->body_total + eng->body_big > eng->lim.max_body_total;
}

/* An answer counts for the memory its body takes (a buffer grows by doubling), and
 * from its first byte for at least a large recent answer's size: many answers
 * starting at once, each with nothing in yet, would all be let in otherwise. */
static void hold(http_engine *eng, http_request *req, size_t held)
{
    eng->body_total -= req->held < eng->body_total ? req->held : eng->body_total;
    eng->body_total += held;
    req->held = held;
}

static void unlist_paused(http_engine *eng, http_request *req)
{
    http_request **pp = &eng->paused_head, *prev = NULL;
    while (*pp && *pp != req) {
        prev = *pp;
        pp = &(*pp)->pnext;
    }
    if (!*pp)
        return;
    *pp = req->pnext;
    if (eng->paused_tail == req)
        eng->paused_tail = prev;
    req->pnext = NULL;
    req->paused = 0;
}

/* Lets paused answers come in, oldest first, while the budget allows. */
static void admit_paused(http_engine *eng)
{
    while (eng->paused_head && !bodies_full(eng)) {
        http_request *req = eng->paused_head;
        unlist_paused(eng, req);
        req->admitted = 1;
        hold(eng, req, eng->body_big);
        curl_easy_pause(req->easy, CURLPAUSE_CONT);
    }
}

/* Answers are held in memory until they are complete: many at once could pass the
 * budget together, so an answer whose first bytes come while the budget is held waits
 * (libcurl stops reading its socket) until answers in progress are done. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_request *req = userdata;
    size_t n = size * nmemb;
    if (!req->admitted) {
        if (bodies_full(req->eng)) {
            if (!req->paused) {
                req->paused = 1;
                if (req->eng->paused_tail)
                    req->eng->paused_tail->pnext = req;
                else
                    req->eng->paused_head = req;
                req->eng->paused_tail = req;
            }
            return CURL_WRITEFUNC_PAUSE;
        }
        req->admitted = 1;
        hold(req->eng, req, req->eng->body_big);
    }
    if (buf_append(&req->out->res.body, ptr, n, NULL) != ST_OK) {
        req->too_large = 1;
        return 0;
    }
    if (req->out->res.body.alloc > req->held)
        hold(req->eng, req, req->out->res.body.alloc);
    return n;
}

static void copy_header_value(char *dst, size_t dstlen, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_request *req = userdata;
    size_t n = size * nmemb;
    static const struct {
        const char *name;
        size_t off, len;
    } wanted[] = {
        {"etag:", offsetof(http_result, etag), sizeof(((http_result *)0)->etag)},
        {"x-ms-error-code:", offsetof(http_result, error_code),
         sizeof(((http_result *)0)->error_code)},
        {"content-type:", offsetof(http_result, content_type),
         sizeof(((http_result *)0)->content_type)},
        {"retry-after:", offsetof(http_result, retry_after),
         sizeof(((http_result *)0)->retry_after)},
    };
    /* a new status line (after 100-continue or a redirect) starts a new header set */
    if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        req->out->res.etag[0] = req->out->res.error_code[0] = req->out->res.content_type[0] = '\0';
        req->out->res.retry_after[0] = '\0';
        return n;
    }
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t ln = strlen(wanted[i].name);
        if (n > ln && strncasecmp(ptr, wanted[i].name, ln) == 0) {
            copy_header_value((char *)&req->out->res + wanted[i].off, wanted[i].len, ptr + ln,
                              n - ln);
            break;
        }
    }
    return n;
}

void http_set_ca(CURL *easy)
{
    static const char *const file_vars[] = {"CURL_CA_BUNDLE", "SSL_CERT_FILE"};
    for (size_t i = 0; i < sizeof file_vars / sizeof file_vars[0]; i++) {
        const char *v = getenv(file_vars[i]);
        if (v && *v) {
            curl_easy_setopt(easy, CURLOPT_CAINFO, v);
            break;
        }
    }
    const char *dir = getenv("SSL_CERT_DIR");
    if (dir && *dir)
        curl_easy_setopt(easy, CURLOPT_CAPATH, dir);
}

/* ---- scheduling ----------------------------------------------------------- */

static group_state *group_of(http_engine *eng, int group)
{
    if (group < 0)
        return NULL;
    if ((size_t)group >= eng->ngroups) {
        size_t n = eng->ngroups ? eng->ngroups : 16;
        while (n <= (size_t)group)
            n *= 2;
        group_state *g = realloc(eng->groups, n * sizeof *g);
        if (!g)
            return NULL;
        for (size_t i = eng->ngroups; i < n; i++) {
            memset(&g[i], 0, sizeof g[i]);
            g[i].cap = eng->lim.group_cap;
            g[i].level = g[i].lprev = g[i].lnext = -1;
        }
        eng->groups = g;
        eng->ngroups = n;
    }
    return &eng->groups[group];
}

/* Puts group gi in the ready list of its level, or in none: called after anything
 * that changes its requests in flight, its cap or its ready requests. */
static void relist(http_engine *eng, int gi)
{
    group_state *g = &eng->groups[gi];
    int room = g->cap - g->in_flight;
    int startable = room <= 0 ? 0 : g->nq < room ? g->nq : room;
    eng->startable += startable - g->startable;
    g->startable = startable;
    int level = g->qhead && g->in_flight < g->cap ? g->in_flight : -1;
    if (level == g->level)
        return;
    if (g->level >= 0) {
        group_list *l = &eng->ready[g->level];
        if (g->lprev >= 0)
            eng->groups[g->lprev].lnext = g->lnext;
        else
            l->head = g->lnext;
        if (g->lnext >= 0)
            eng->groups[g->lnext].lprev = g->lprev;
        else
            l->tail = g->lprev;
    }
    g->level = level;
    g->lprev = g->lnext = -1;
    if (level >= 0) {
        group_list *l = &eng->ready[level];
        g->lprev = l->tail;
        if (l->tail >= 0)
            eng->groups[l->tail].lnext = gi;
        else
            l->head = gi;
        l->tail = gi;
    }
}

/* A request waits: for its retry time, or ready in its group's queue (at its front
 * when it was tried before, so a group's requests keep their order). */
static void enqueue(http_engine *eng, http_request *req)
{
    eng->queued++;
    req->next = NULL;
    if (req->not_before_ms > now_ms()) {
        req->next = eng->later;
        eng->later = req;
        return;
    }
    group_state *g = group_of(eng, req->group);
    http_request **head = g ? &g->qhead : &eng->head, **tail = g ? &g->qtail : &eng->tail;
    if (req->attempts > 0 && *head) {
        req->next = *head;
        *head = req;
    } else {
        if (*tail)
            (*tail)->next = req;
        else
            *head = req;
        *tail = req;
    }
    if (g) {
        g->nq++;
        relist(eng, (int)(g - eng->groups));
    } else {
        eng->nhead++;
    }
}

/* The next ready request: one of no group, else one from the groups with the fewest
 * in flight, in turn; NULL when none may start. */
static http_request *take_ready(http_engine *eng)
{
    http_request *r = eng->head;
    if (r) {
        eng->head = r->next;
        if (!eng->head)
            eng->tail = NULL;
        eng->nhead--;
    } else {
        int lv = 0;
        while (lv < eng->lim.group_cap && eng->ready[lv].head < 0)
            lv++;
        if (lv == eng->lim.group_cap)
            return NULL;
        int gi = eng->ready[lv].head;
        group_state *g = &eng->groups[gi];
        r = g->qhead;
        g->qhead = r->next;
        if (!g->qhead)
            g->qtail = NULL;
        g->nq--;
        relist(eng, gi); /* start_attempt relists it again once it is in flight */
    }
    r->next = NULL;
    eng->queued--;
    return r;
}

static int has_header(const struct curl_slist *l, const char *name)
{
    size_t n = strlen(name);
    for (; l; l = l->next)
        if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
            return 1;
    return 0;
}

static void complete(http_request *req);
static status step(http_engine *eng, errinfo *err);

/* Starts one attempt. On a local failure (auth hook, out of memory) the request
 * completes with that error. */
static void start_attempt(http_engine *eng, http_request *req)
{
    req->eng = eng;
    if (!req->out) {
        if (!(req->out = calloc(1, sizeof *req->out))) {
            complete(req); /* out of memory */
            return;
        }
        buf_init(&req->out->res.body, 0);
    }
    http_result *res = &req->out->res;
    buf_reset(&res->body);
    res->body.cap = eng->lim.max_body;
    json_decref(res->json);
    res->json = NULL;
    jsontok_dispose(&res->tok);
    res->etag[0] = res->error_code[0] = res->content_type[0] = res->retry_after[0] = '\0';
    res->http_status = 0;
    req->too_large = 0;
    req->out->errbuf[0] = '\0';
    headers_free(req->attempt_headers);
    req->attempt_headers = NULL;

    if (req->prepare) {
        errinfo perr = {0};
        status st = req->prepare(req->prepare_ctx, req, &perr);
        if (st != ST_OK) {
            res->st = st;
            res->err = perr;
            complete(req);
            return;
        }
    }
    struct curl_slist *h = NULL;
    for (const struct curl_slist *l = req->headers; l; l = l->next) {
        struct curl_slist *t = curl_slist_append(h, l->data);
        if (!t)
            goto nomem;
        h = t;
    }
    if (req->body && !has_header(req->headers, "Content-Type")) {
        struct curl_slist *t = curl_slist_append(h, "Content-Type:");
        if (!t)
            goto nomem;
        h = t;
    }
    {
        struct curl_slist *t = curl_slist_append(h, "Expect:");
        if (!t)
            goto nomem;
        h = t;
    }
    if (req->auth) {
        errinfo aerr = {0};
        status st = req->auth(req->auth_ctx, req, req->want_renew, &h, &aerr);
        req->want_renew = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        req->sent_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        if (st != ST_OK) {
            headers_free(h);
            res->st = st;
            res->err = aerr;
            complete(req);
            return;
        }
    }
    req->attempt_headers = h;

    if (!req->easy) {
        req->easy = curl_easy_init();
        if (!req->easy)
            goto nomem;
    } else {
        curl_easy_reset(req->easy);
    }
    CURL *e = req->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->attempt_headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->out->errbuf);
    /* each request in flight holds one (16 KiB by default), thousands at once */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, eng->lim.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, eng->lim.timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* waiting to multiplex only makes sense where HTTP/2 can be negotiated (TLS);
     * on plain http it would serialize requests behind one connection */
    if (strncasecmp(req->url, "https:", 6) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    http_set_ca(e);
    if (req->flags & HTTP_NO_PROXY)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    /* the pool with the fewest in flight: it has the most idle connections to reuse */
    int pi = 0;
    for (int i = 1; i < eng->npools; i++)
        if (eng->pools[i].in_flight < eng->pools[pi].in_flight)
            pi = i;
    if (curl_multi_add_handle(eng->pools[pi].multi, e) != CURLM_OK)
        goto nomem;
    req->pool = pi;
    eng->pools[pi].in_flight++;
    req->attempts++;
    res->attempts = req->attempts;
    eng->in_flight++;
    group_state *g = group_of(eng, req->group);
    if (g) {
        g->in_flight++;
        relist(eng, (int)(g - eng->groups));
    }
    eng->stats.requests++;
    if (req->attempts > 1)
        eng->stats.retries++;
    eng->stats.bytes_out += req->body_len;
    return;
nomem:
    headers_free(h);
    req->attempt_headers = NULL;
    res->st = err_set(&res->err, ST_NOMEM, "out of memory starting a request");
    complete(req);
}

/* Memory per request in flight beside its answer: libcurl's handle and buffers. */
#define REQUEST_OVERHEAD ((size_t)12 << 10)

/* Whether no new request may start: the requests in flight cost memory of their own,
 * and answers held pass the budget. One always may start, so nothing waits for ever. */
static int over_budget(const http_engine *eng)
{
    if (!eng->lim.max_body_total || eng->in_flight == 0)
        return 0;
    return (size_t)(eng->in_flight + 1) * REQUEST_OVERHEAD > eng->lim.max_body_total ||
           eng->body_total >= eng->lim.max_body_total;
}

int http_room(const http_engine *eng)
{
    long cap = eng->lim.max_in_flight;
    if (eng->lim.max_body_total && (long)(eng->lim.max_body_total / REQUEST_OVERHEAD) - 1 < cap)
        cap = (long)(eng->lim.max_body_total / REQUEST_OVERHEAD) - 1;
    long room = cap - eng->in_flight - eng->startable - eng->nhead;
    return room > 0 ? (int)room : 0;
}

/* Moves the requests whose retry time has come to their queues, then starts ready
 * requests while the caps allow. Returns the milliseconds until the earliest waiting
 * request may start (-1: none). */
static long pump(http_engine *eng)
{
    int64_t now = now_ms();
    long wait = -1;
    admit_paused(eng);
    http_request **pp = &eng->later;
    while (*pp) {
        http_request *r = *pp;
        if (r->not_before_ms <= now) {
            *pp = r->next;
            eng->queued--;
            r->not_before_ms = 0;
            enqueue(eng, r);
        } else {
            long w = (long)(r->not_before_ms - now);
            if (wait < 0 || w < wait)
                wait = w;
            pp = &r->next;
        }
    }
    while (eng->in_flight < eng->lim.max_in_flight && !over_budget(eng)) {
        http_request *r = take_ready(eng);
        if (!r)
            break;
        start_attempt(eng, r);
    }
    return wait;
}

static void complete(http_request *req)
{
    outcome spare;
    http_result *res = req->out ? &req->out->res : NULL;
    if (!res) {
        /* it never started, and its outcome could not be allocated */
        memset(&spare, 0, sizeof spare);
        res = &spare.res;
        res->st = err_set(&res->err, ST_NOMEM, "out of memory starting a request");
    }
    if (req->done)
        req->done(req->done_ctx, res);
    if (res == &spare.res)
        http_result_dispose(res);
    http_request_free(req);
}

static int retryable_http(long code)
{
    return code == 429 || code == 500 || code == 502 || code == 503 || code == 504;
}

static long backoff_ms(http_engine *eng, int attempt)
{
    long base = eng->lim.base_backoff_ms > 0 ? eng->lim.base_backoff_ms : 500;
    long d = base;
    for (int i = 1; i < attempt && d < eng->lim.max_retry_wait_ms; i++)
        d *= 2;
    if (d > eng->lim.max_retry_wait_ms)
        d = eng->lim.max_retry_wait_ms;
    /* full jitter in [d/2, d] so replicas that failed together do not retry together */
    eng->rng = eng->rng * 1103515245u + 12345u;
    long half = d / 2;
    return half + (half > 0 ? (long)((eng->rng >> 8) % (unsigned long)(half + 1)) : 0);
}

/* The credential of the attempt's Authorization header (what follows its scheme),
 * or NULL. */
static const char *attempt_credential(const http_request *req)
{
    static const char name[] = "Authorization:";
    for (const struct curl_slist *l = req->attempt_headers; l; l = l->next) {
        if (strncasecmp(l->data, name, sizeof name - 1) != 0)
            continue;
        const char *p = l->data + sizeof name - 1;
        p += strspn(p, " ");
        p += strcspn(p, " "); /* the scheme */
        p += strspn(p, " ");
        const char *colon = strchr(p, ':'); /* SharedKey account:signature */
        return *p ? (colon ? colon + 1 : p) : NULL;
    }
    return NULL;
}

/* Fills res->err for an HTTP error status, with Graph's or Storage's error code. */
static void describe_http_error(http_request *req, status st)
{
    http_result *res = &req->out->res;
    char url[512];
    http_url_for_log(req->url, url, sizeof url);
    char detail[300] = "";
    json_t *j = res->body.len ? json_loadb(res->body.data, res->body.len, 0, NULL) : NULL;
    json_t *e = j ? json_object_get(j, "error") : NULL;
    if (json_is_object(e)) {
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (code && !res->error_code[0])
            snprintf(res->error_code, sizeof res->error_code, "%s", code);
        snprintf(detail, sizeof detail, ": %s%s%.200s", code ? code : "", code && msg ? ": " : "",
                 msg ? msg : "");
    } else if (res->error_code[0]) {
        snprintf(detail, sizeof detail, ": %s", res->error_code);
    }
    json_decref(j);
    err_clear(&res->err);
    err_set(&res->err, st, "%s %s: HTTP %ld%s (after %d attempt%s)", req->method, url,
            res->http_status, detail, req->attempts, req->attempts == 1 ? "" : "s");
    /* a server may quote the credential it was sent; a Shared Key signature is a new
     * one each attempt, never registered, so it is scrubbed here, where it is known */
    const char *cred = attempt_credential(req);
    if (cred)
        secret_scrub_also(res->err.msg, sizeof res->err.msg, cred);
    res->err.http_status = (int)res->http_status;
}

static void finish_attempt(http_engine *eng, http_request *req, CURLcode cc)
{
    http_result *res = &req->out->res;
    long code = 0;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(eng->pools[req->pool].multi, req->easy);
    eng->pools[req->pool].in_flight--;
    unlist_paused(eng, req);
    req->admitted = 0;
    eng->in_flight--;
    hold(eng, req, 0);
    eng->body_big -= eng->body_big / 64;
    if (res->body.alloc > eng->body_big)
        eng->body_big = res->body.alloc;
    group_state *g = group_of(eng, req->group);
    if (g) {
        g->in_flight--;
        relist(eng, (int)(g - eng->groups));
    }
    res->http_status = code;
    eng->stats.bytes_in += res->body.len;

    int retry = 0;
    long delay = -1;
    status st = ST_OK;
    char url[512];
    http_url_for_log(req->url, url, sizeof url);
    err_clear(&res->err);

    if (cc != CURLE_OK) {
        if (req->too_large) {
            st =
                err_set(&res->err, ST_TOO_LARGE, "%s %s: response larger than the cap of %zu bytes",
                        req->method, url, eng->lim.max_body);
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            st = err_set(&res->err, ST_TIMEOUT, "%s %s: no complete answer within %ld s",
                         req->method, url, eng->lim.timeout_ms / 1000);
            retry = 1;
            res->err.curl_code = (int)cc;
        } else {
            int fatal = cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
                        cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                        cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_OUT_OF_MEMORY;
            st = err_set(&res->err, ST_NET, "%s %s: %s", req->method, url,
                         req->out->errbuf[0] ? req->out->errbuf : curl_easy_strerror(cc));
            res->err.curl_code = (int)cc;
            retry = !fatal;
        }
    } else if (code >= 200 && code < 300) {
        if (req->flags & (HTTP_EXPECT_JSON | HTTP_EXPECT_TOKENS)) {
            if (res->body.len == 0) {
                st = err_set(&res->err, ST_JSON, "%s %s: HTTP %ld with an empty body", req->method,
                             url, code);
                retry = 1;
            } else if (req->flags & HTTP_EXPECT_TOKENS) {
                errinfo je = {0};
                if (jsontok_parse(&res->tok, res->body.data, res->body.len, JSONTOK_ALLOW_NUL,
                                  &je) != ST_OK) {
                    st = err_set(&res->err, je.code, "%s %s: %s%s%s", req->method, url,
                                 je.code == ST_JSON ? "invalid JSON (" : "", je.msg,
                                 je.code == ST_JSON ? ")" : "");
                    retry = je.code == ST_JSON;
                }
            } else {
                json_error_t je;
                /* a \u0000 escape is valid JSON: keep it rather than fail the page forever */
                res->json = json_loadb(res->body.data, res->body.len, JSON_ALLOW_NUL, &je);
                if (!res->json) {
                    st = err_set(&res->err, ST_JSON, "%s %s: invalid JSON (%s at byte %d)",
                                 req->method, url, je.text, je.position);
                    retry = 1;
                }
            }
        }
        if (st == ST_OK && g && ++g->successes >= 8 && g->cap < eng->lim.group_cap) {
            g->cap++;
            g->successes = 0;
            relist(eng, (int)(g - eng->groups));
        }
    } else if (code == 401 || (code == 403 && (req->flags & HTTP_RENEW_ON_403))) {
        st = code == 401 ? ST_AUTH : ST_FORBIDDEN;
        int seen = code == 401 ? 1 : 2;
        if (!(req->renewed & seen) && req->auth) {
            /* renew once per code, right away; it does not use up a retry. Per code,
             * since a lookup refused with 403 may meet tokens revoked (401) on its
             * renewed attempt */
            req->renewed |= seen;
            req->want_renew = code == 401 ? HTTP_RENEW : HTTP_RENEW_403;
            req->not_before_ms = 0;
            req->attempts--;
            enqueue(eng, req);
            return;
        }
        describe_http_error(req, st);
    } else {
        switch (code) {
        case 403:
            st = ST_FORBIDDEN;
            break;
        case 404:
            st = ST_NOT_FOUND;
            break;
        case 409:
            st = ST_CONFLICT;
            break;
        case 412:
            st = ST_PRECONDITION;
            break;
        default:
            st = ST_HTTP;
            break;
        }
        if (retryable_http(code) ||
            ((req->flags & HTTP_RETRY_NOT_FOUND) && (code == 404 || code == 410))) {
            retry = 1;
            if (code == 429) {
                eng->stats.throttled++;
                if (g && g->cap > 1) {
                    g->cap--;
                    relist(eng, (int)(g - eng->groups));
                }
                if (g)
                    g->successes = 0;
            }
            if (res->retry_after[0])
                delay = http_parse_retry_after(res->retry_after, now_ms());
        }
        describe_http_error(req, st);
    }

    if (req->flags & HTTP_NO_RETRY)
        retry = 0;
    if (retry && req->attempts <= eng->lim.max_retries) {
        if (delay < 0)
            delay = backoff_ms(eng, req->attempts);
        if (delay > eng->lim.max_retry_wait_ms)
            delay = eng->lim.max_retry_wait_ms;
        if (log_enabled(LOG_DEBUG))
            log_debug("retrying request",
                      json_pack("{s:s,s:s,s:I,s:s,s:I,s:i}", "method", req->method, "url", url,
                                "http_status", (json_int_t)code, "error", res->err.msg, "wait_ms",
                                (json_int_t)delay, "attempt", req->attempts));
        req->not_before_ms = now_ms() + delay;
        enqueue(eng, req);
        return;
    }
    res->st = st;
    if (st != ST_OK && retry)
        err_prefix(&res->err, "gave up after %d attempt%s", req->attempts,
                   req->attempts == 1 ? "" : "s");
    complete(req);
}

status http_submit(http_engine *eng, http_request *req, http_done_fn done, void *ctx, errinfo *err)
{
    (void)err;
    req->done = done;
    req->done_ctx = ctx;
    req->not_before_ms = 0;
    enqueue(eng, req);
    return ST_OK;
}

static void drain_messages(http_engine *eng)
{
    CURLMsg *m;
    int left;
    for (int i = 0; i < eng->npools; i++)
        while ((m = curl_multi_info_read(eng->pools[i].multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            http_request *req = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&req);
            finish_attempt(eng, req, m->data.result);
        }
}

/* One turn of the loop: start what can start, move transfers, handle what ended,
 * then wait for activity or the next retry time. */
status http_step(http_engine *eng, errinfo *err)
{
    if (eng->in_step)
        return err_set(err, ST_INTERNAL, "http_step called from a request callback or hook");
    return step(eng, err);
}

status http_watch(http_engine *eng, int fd, errinfo *err)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = EV_DATA(EV_WATCHED, fd)};
    if (eng->watch_fd >= 0 || epoll_ctl(eng->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return err_set(err, ST_INTERNAL, "cannot watch a descriptor: %s",
                       eng->watch_fd >= 0 ? "one is watched already" : strerror(errno));
    eng->watch_fd = fd;
    return ST_OK;
}

void http_unwatch(http_engine *eng)
{
    /* its number may come back as one of libcurl's sockets, whose events would then be
     * taken for the caller's */
    if (eng->watch_fd >= 0)
        (void)epoll_ctl(eng->epfd, EPOLL_CTL_DEL, eng->watch_fd, NULL);
    eng->watch_fd = -1;
}

int http_idle(const http_engine *eng)
{
    return eng->queued == 0 && eng->in_flight == 0;
}

static status turn(http_engine *eng, errinfo *err);

/* A nested turn would start again the requests the outer one is walking through. */
static status step(http_engine *eng, errinfo *err)
{
    eng->in_step++;
    status st = turn(eng, err);
    eng->in_step--;
    return st;
}

/* Hands a pool's libcurl one socket's activity, or its timeout (CURL_SOCKET_TIMEOUT). */
static status act(pool *p, curl_socket_t s, int flags, errinfo *err)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(p->multi, s, flags, &running);
    if (mc != CURLM_OK)
        return err_set(err, ST_INTERNAL, "libcurl: %s", curl_multi_strerror(mc));
    return ST_OK;
}

static status turn(http_engine *eng, errinfo *err)
{
    long wait = pump(eng);
    if (eng->queued == 0 && eng->in_flight == 0)
        return ST_OK;
    long timeout = 1000;
    if (wait >= 0 && wait < timeout)
        timeout = wait;
    if (eng->in_flight > 0) {
        int64_t now = mono_ms();
        for (int i = 0; i < eng->npools; i++) {
            const pool *p = &eng->pools[i];
            if (p->in_flight > 0 && p->timer_at >= 0 && p->timer_at - now < timeout)
                timeout = p->timer_at > now ? (long)(p->timer_at - now) : 0;
        }
    }
    struct epoll_event ev[256];
    int n = epoll_wait(eng->epfd, ev, (int)(sizeof ev / sizeof ev[0]), (int)timeout);
    if (n < 0 && errno != EINTR)
        return err_set(err, ST_INTERNAL, "epoll_wait: %s", strerror(errno));
    status st = ST_OK;
    for (int i = 0; i < n && st == ST_OK; i++) {
        uint32_t pi = (uint32_t)(ev[i].data.u64 >> 32);
        if (pi == EV_WATCHED || pi >= (uint32_t)eng->npools)
            continue; /* the caller's to read */
        uint32_t e = ev[i].events;
        int flags = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        st = act(&eng->pools[pi], (curl_socket_t)(uint32_t)ev[i].data.u64, flags, err);
    }
    int64_t now = mono_ms();
    for (int i = 0; i < eng->npools && st == ST_OK; i++) {
        pool *p = &eng->pools[i];
        if (p->timer_at >= 0 && now >= p->timer_at) {
            p->timer_at = -1;
            st = act(p, CURL_SOCKET_TIMEOUT, 0, err);
        }
    }
    if (st != ST_OK)
        return st;
    drain_messages(eng);
    /* the callbacks may have queued follow-up requests that can start right away:
     * start them now rather than after the next socket event or the poll timeout */
    pump(eng);
    return ST_OK;
}

status http_run(http_engine *eng, errinfo *err)
{
    if (eng->in_step)
        return err_set(err, ST_INTERNAL, "http_run called from a request callback or hook");
    while (eng->queued || eng->in_flight) {
        status st = step(eng, err);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

typedef struct perform_ctx {
    http_result *out;
    int done;
} perform_ctx;

static void on_perform_done(void *ctx, http_result *res)
{
    perform_ctx *pc = ctx;
    http_result *out = pc->out;
    *out = *res;
    /* the result moves to the caller: the request must not free it */
    buf_init(&res->body, 0);
    res->json = NULL;
    jsontok_init(&res->tok);
    pc->done = 1;
}

status http_perform(http_engine *eng, http_request *req, http_result *res)
{
    memset(res, 0, sizeof *res);
    buf_init(&res->body, 0);
    if (eng->in_step) {
        http_request_free(req);
        res->st =
            err_set(&res->err, ST_INTERNAL, "http_perform called from a request callback or hook");
        return res->st;
    }
    perform_ctx pc = {res, 0};
    status st = http_submit(eng, req, on_perform_done, &pc, &res->err);
    if (st != ST_OK) {
        res->st = st;
        return st;
    }
    while (!pc.done) {
        errinfo e = {0};
        st = step(eng, &e);
        if (st != ST_OK) {
            if (!pc.done) {
                res->st = st;
                res->err = e;
            }
            return st;
        }
    }
    return res->st;
}

void http_engine_free(http_engine *eng)
{
    if (!eng)
        return;
    for (size_t i = 0; i <= eng->ngroups; i++) {
        http_request *r = i < eng->ngroups ? eng->groups[i].qhead : eng->head;
        while (r) {
            http_request *n = r->next;
            http_request_free(r);
            r = n;
        }
    }
    for (http_request *r = eng->later, *n; r; r = n) {
        n = r->next;
        http_request_free(r);
    }
    /* requests still in flight are only left behind when the run is aborted */
    for (int i = 0; eng->pools && i < eng->npools; i++)
        curl_multi_cleanup(eng->pools[i].multi);
    free(eng->pools);
    close(eng->epfd);
    free(eng->groups);
    free(eng->ready);
    free(eng);
}
