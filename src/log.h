/* Logging to stderr: one JSON object per line ({"time","level","msg",fields...})
 * or "time LEVEL msg key=value ..." text for a person at a terminal.
 * Every line passes the scrubber of secret.h; text lines have their control
 * characters escaped, so a value cannot start a line of its own. */
#ifndef TA_LOG_H
#define TA_LOG_H

#include <jansson.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;
typedef enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT } log_format;

void log_setup(log_format format, log_level level);
/* Parses "debug", "info", "warn"/"warning", "error"; returns 0 on success. */
int log_level_parse(const char *s, log_level *out);
/* Writes one line. fields is a JSON object or NULL; the call takes its reference.
 * Any thread may write: lines go out one at a time, each with its hook calls. */
void log_write(log_level level, const char *msg, json_t *fields);
int log_enabled(log_level level);
/* Called around every line written to stderr: before = 1 just before it, 0 just
 * after (the progress line on a terminal clears and redraws itself). NULL removes. */
typedef void (*log_hook_fn)(void *ctx, int before);
void log_set_hook(log_hook_fn fn, void *ctx);
/* Held while a line and its hook calls go out: taken by another writer to stderr (the
 * progress line) so that no line cuts into its own. */
void log_lock(void);
void log_unlock(void);

#define log_debug(msg, f) log_write(LOG_DEBUG, (msg), (f))
#define log_info(msg, f) log_write(LOG_INFO, (msg), (f))
#define log_warn(msg, f) log_write(LOG_WARN, (msg), (f))
#define log_error(msg, f) log_write(LOG_ERROR, (msg), (f))

#endif
