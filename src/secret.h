/* The process's secrets: the client secret, every token issued during the run,
 * client assertions, the federated token, IDENTITY_HEADER, the account key and a
 * SAS's signature. Registered as they are read or received, they are scrubbed out of
 * every text the job composes (log lines, error texts, the manifest, check's
 * output), however a server echoed them: as they are, %XX-encoded (either case,
 * once or twice, '+' for a space), JSON-escaped (\/, \uXXXX), or any run of 16 or
 * more of their characters (for a JWT, past its header, which every token shares).
 * Snapshots keep what Graph sent and are not scrubbed.
 *
 * Memory that held a secret is wiped with secret_wipe, a store the compiler keeps
 * (explicit_bzero); secret_protect_process keeps secrets out of core dumps.
 * The table is process-wide and guarded by a mutex. */
#ifndef TA_SECRET_H
#define TA_SECRET_H

#include <stddef.h>

/* Registers a value (copied; under 4 bytes ignored). Its %-decoded form too. */
void secret_add(const char *s);
/* Registers the signature (sig=) of a SAS query string: its dates are no secret. */
void secret_add_sas(const char *sas);
/* Forgets and wipes every registered secret. */
void secret_forget(void);
/* Replaces every occurrence of a registered secret in the NUL-terminated s (a buffer
 * of cap bytes) by "[REDACTED]", in place; the result is cut to cap - 1 bytes. */
void secret_scrub(char *s, size_t cap);
/* secret_scrub, and also of also (NULL: none), a secret only the caller knows: the
 * Shared Key signature of one request, say, too many to register. */
void secret_scrub_also(char *s, size_t cap, const char *also);
/* Overwrites n bytes at p with zeros in a way the compiler cannot drop. */
void secret_wipe(void *p, size_t n);
/* Wipes a NUL-terminated string and frees it (NULL-safe). */
void secret_free(char *s);
/* No core dump may hold a secret: core size 0, and the process not dumpable. */
void secret_protect_process(void);

#endif
