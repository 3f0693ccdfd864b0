/* Access tokens. A token source knows how to get a token for one audience and
 * keeps it until shortly before it expires (5 minutes), or until it is
 * invalidated after a 401.
 *
 * Sources: client secret, certificate (signed client assertion, PS256 with
 * x5t#S256), workload identity (federated token file), and managed identity
 * (Container Apps IDENTITY_ENDPOINT, or the VM metadata endpoint).
 *
 * A fetch runs one request to its end through the HTTP engine (http_perform), so
 * the engine's retries, Retry-After, timeouts and error texts apply; on an engine
 * the source owns, since token_get is called from the auth hooks of a request the
 * caller's engine is starting, where that engine cannot run another request. It
 * blocks the caller meanwhile (once an hour at most).
 * Ownership: token_source_new allocates; token_source_free releases (NULL-safe).
 * The string from token_get belongs to the source and stays valid until the next
 * token_get or token_source_free. Every secret and token it handles is registered
 * with log_add_secret. */
#ifndef TA_TOKEN_H
#define TA_TOKEN_H

#include "config.h"
#include <stdint.h>

#include "status.h"

typedef struct token_source token_source;

/* For Microsoft Graph: scope {graph_host}/.default, credentials from cfg->cred; with
 * CRED_MANAGED_IDENTITY a token for resource {graph_host} from the managed identity
 * endpoint (user-assigned: cfg->client_id, else the system-assigned identity). */
TA_MUST_USE status token_source_graph(token_source **out, const config *cfg, errinfo *err);
/* For Blob Storage without key or SAS: managed identity (user-assigned:
 * cfg->managed_identity_client_id) or workload identity, resource
 * https://storage.azure.com/. */
TA_MUST_USE status token_source_storage(token_source **out, const config *cfg, errinfo *err);
/* Returns a valid token, fetching one when there is none, it expires within 5
 * minutes, or force_renew is set. */
TA_MUST_USE status token_get(token_source *ts, int force_renew, const char **token, errinfo *err);
/* Whether the current token came after `us` (µs since the epoch): a request refused
 * with 403 while holding an older token then needs no new fetch, so that many such
 * refusals at once cost one renewal. */
int token_fetched_after(const token_source *ts, int64_t us);
void token_source_free(token_source *ts);
/* Checks the credential's own settings before any request: a certificate file that
 * is not a PEM with a key and a certificate is ST_CONFIG naming
 * AZURE_CLIENT_CERTIFICATE_PATH (exit status 2). */
TA_MUST_USE status token_check_settings(const config *cfg, errinfo *err);
/* Number of token requests made (for the summary line and tests). */
unsigned token_source_fetches(const token_source *ts);
/* When the token held expires, in microseconds since the epoch (0: none held). */
int64_t token_source_expires_us(const token_source *ts);

#endif
