/* Terminal progress line and summary table: see progress.h. */
#include "job/progress.h"
#include "log.h"
#include "secret.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/timeutil.h"

#define ERASE_LINE "\r\033[K"

void progress_format_duration(char *out, size_t n, int64_t us)
{
    int64_t s = us > 0 ? us / 1000000 : 0;
    if (s < 60)
        snprintf(out, n, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(out, n, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else
        snprintf(out, n, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
}

void progress_format(char *out, size_t n, const progress_counts *c, int64_t elapsed_us)
{
    char elapsed[32], left[32] = "?";
    progress_format_duration(elapsed, sizeof elapsed, elapsed_us);
    if (c->mailboxes_done > 0 && c->mailboxes_total >= c->mailboxes_done) {
        /* the mailboxes left take as long on average as those done */
        double per = (double)elapsed_us / (double)c->mailboxes_done;
        double rest = per * (double)(c->mailboxes_total - c->mailboxes_done);
        progress_format_duration(left, sizeof left,
                                 rest > 9e15 ? INT64_C(9000000000000000) : (int64_t)rest);
    }
    char failed[48] = "";
    if (c->mailboxes_failed > 0)
        snprintf(failed, sizeof failed, " (%" PRId64 " failed)", c->mailboxes_failed);
    snprintf(out, n,
             "mailboxes %" PRId64 "/%" PRId64 "%s  requests %" PRId64 "  throttled %" PRId64
             "  rows %" PRId64 "  elapsed %s  left %s",
             c->mailboxes_done, c->mailboxes_total, failed, c->requests, c->throttled, c->rows,
             elapsed, left);
}

/* Columns of the terminal, so the line never wraps (a wrapped line cannot be
 * redrawn in place); 80 when it cannot be read. */
static size_t term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

static void draw(progress *p)
{
    size_t w = term_width(p->out) - 1;
    size_t len = strlen(p->line);
    fprintf(p->out, ERASE_LINE "%.*s", (int)(len < w ? len : w), p->line);
    fflush(p->out);
    p->drawn = 1;
}

static void clear(progress *p)
{
    if (p->drawn) {
        fputs(ERASE_LINE, p->out);
        fflush(p->out);
        p->drawn = 0;
    }
}

/* Around a log line: off the screen before, back after. */
static void on_log(void *ctx, int before)
{
    progress *p = ctx;
    if (before) {
        clear(p);
    } else if (p->line[0]) {
        draw(p);
    }
}

void progress_init(progress *p, FILE *out, log_format format, int64_t started_us)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->started_us = started_us;
    const char *term = getenv("TERM");
    p->enabled = format == LOG_FORMAT_TEXT && out && isatty(fileno(out)) &&
                 !(term && strcmp(term, "dumb") == 0);
    if (p->enabled)
        log_set_hook(on_log, p);
}

void progress_update(progress *p, const progress_counts *c, int64_t now_us, int force)
{
    if (!p->enabled)
        return;
    /* a log line from another thread redraws the line (on_log) */
    log_lock();
    p->counts = *c;
    if (force || !p->drawn || now_us - p->last_draw_us >= PROGRESS_INTERVAL_US) {
        p->last_draw_us = now_us;
        progress_format(p->line, sizeof p->line, c, now_us - p->started_us);
        draw(p);
    }
    log_unlock();
}

void progress_finish(progress *p)
{
    if (!p || !p->enabled)
        return;
    log_lock();
    clear(p);
    p->line[0] = '\0';
    log_unlock();
    log_set_hook(NULL, NULL);
    p->enabled = 0;
}

void progress_write_summary(FILE *f, const progress_totals *t, const progress_failure *failed,
                            size_t nfailed)
{
    char dur[32];
    progress_format_duration(dur, sizeof dur, t->duration_us);
    fprintf(f, "\nRun %s: %s\n", t->run_id ? t->run_id : "?", t->status ? t->status : "?");
    fprintf(f, "  %-22s %12s\n", "table", "rows");
    for (int i = 0; i < TBL_COUNT; i++)
        fprintf(f, "  %-22s %12" PRId64 "\n", tables_def((table_id)i)->name, t->rows[i]);
    fprintf(f, "  %-22s %12" PRId64 "\n", "mailboxes ok", t->mailboxes_ok);
    fprintf(f, "  %-22s %12" PRId64 "\n", "mailboxes failed", t->mailboxes_failed);
    fprintf(f, "  %-22s %12" PRId64 "\n", "requests", t->requests);
    fprintf(f, "  %-22s %12" PRId64 "\n", "retries", t->retries);
    fprintf(f, "  %-22s %12" PRId64 "\n", "throttled", t->throttled);
    fprintf(f, "  %-22s %12s\n", "duration", dur);
    if (nfailed > 0) {
        fprintf(f, "Failed mailboxes:\n");
        for (size_t i = 0; i < nfailed && i < PROGRESS_FAILED_MAX; i++) {
            char *err = strdup(failed[i].error ? failed[i].error : "");
            if (err)
                secret_scrub(err, strlen(err) + 1); /* a last guard; errors are scrubbed */
            fprintf(f, "  %s: %s", failed[i].upn ? failed[i].upn : "?", err ? err : "");
            free(err);
            if (failed[i].failed_runs > 0 && failed[i].failing_since != INT64_MIN) {
                char since[TIMEUTIL_FMT_MAX];
                timeutil_format(failed[i].failing_since, since);
                fprintf(f, " (failing since %s, %" PRId64 " runs)", since, failed[i].failed_runs);
            }
            fputc('\n', f);
        }
        if (nfailed > PROGRESS_FAILED_MAX)
            fprintf(f, "  ... and %zu more (the run manifest lists them all)\n",
                    nfailed - PROGRESS_FAILED_MAX);
    }
    fflush(f);
}

void progress_summary(progress *p, const progress_totals *t, const progress_failure *failed,
                      size_t nfailed)
{
    if (!p->enabled)
        return;
    clear(p);
    p->line[0] = '\0'; /* the run is over: no more redrawing after log lines */
    progress_write_summary(p->out, t, failed, nfailed);
}
