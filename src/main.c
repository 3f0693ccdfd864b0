/* teams-attendance: the command line. Parses it (through config_load), calls the
 * command, and maps the outcome to the exit status of docs/behaviour.md:
 * 0 success, 1 a failure at run time, 2 usage or configuration. */
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"
#include "job/job.h"
#include "log.h"
#include "tables/convert.h"
#include "tables/tables.h"

int main(int argc, char **argv)
{
    secret_protect_process();
    config cfg;
    errinfo err = {0};
    status st = config_load(&cfg, argc, argv, &err);
    if (st == ST_OK && (cfg.cmd == CMD_RUN || cfg.cmd == CMD_CHECK || cfg.cmd == CMD_AUDIT))
        st = job_check_settings(&cfg, &err);
    if (st != ST_OK) {
        fprintf(stderr, "teams-attendance: %s\n", err.msg);
        if (st == ST_USAGE)
            fprintf(stderr, "Try 'teams-attendance --help'.\n");
        config_dispose(&cfg);
        return 2;
    }
    log_setup(cfg.log_format, cfg.log_level);
    int code = 0;
    switch (cfg.cmd) {
    case CMD_HELP:
        fputs(config_usage(), stdout);
        break;
    case CMD_VERSION:
        printf("teams-attendance %s\n", TA_VERSION);
        break;
    case CMD_SCHEMA:
        if (cfg.schema_sql)
            tables_print_sql(stdout);
        else
            tables_print_schema(stdout);
        break;
    case CMD_CONVERT:
        st = convert_run(&cfg, &err);
        if (st != ST_OK) {
            log_error("convert failed", json_pack("{s:s}", "error", err.msg));
            code = st == ST_USAGE || st == ST_CONFIG ? 2 : 1;
        }
        break;
    case CMD_CHECK:
        code = job_check(&cfg);
        break;
    case CMD_RUN:
        code = job_run(&cfg);
        break;
    case CMD_AUDIT:
        code = job_audit(&cfg);
        break;
    case CMD_COMPACT:
        code = job_compact(&cfg);
        break;
    }
    config_dispose(&cfg);
    secret_forget();
    return code;
}
