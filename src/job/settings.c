/* Settings owned by the modules behind the job, checked before any request: see
 * job.h. config.c reads and checks what it owns (names, numbers, URLs); a storage
 * driver knows what its connection string may hold, and the token source what a
 * certificate file must hold, so each checks that itself. */
#include "job/job.h"

#include "auth/token.h"
#include "store/store.h"

status job_check_settings(const config *cfg, errinfo *err)
{
    status st = token_check_settings(cfg, err);
    return st == ST_OK ? store_check_settings(cfg, err) : st;
}
