/* Settings owned by the modules behind the job, checked before any request: see
 * job.h. config.c reads and checks what it owns (names, numbers, URLs); a storage
 * driver knows what its connection string may hold, so it checks that itself. */
#include "job/job.h"

#include "store/store.h"

status job_check_settings(const config *cfg, errinfo *err)
{
    return store_check_settings(cfg, err);
}
