/* Prints the table of settings (src/config.c) as the settings block of --help, which
 * the man page is built from, or with --markdown as the README's table.
 * Usage: settings-doc [--markdown] [-o FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int main(int argc, char **argv)
{
    config_doc format = CONFIG_DOC_HELP;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0) {
            format = CONFIG_DOC_MARKDOWN;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else {
            fprintf(stderr, "usage: settings-doc [--markdown] [-o FILE]\n");
            return 2;
        }
    }
    char *text = config_settings_doc(format);
    if (!text) {
        fprintf(stderr, "settings-doc: out of memory\n");
        return 1;
    }
    FILE *f = path ? fopen(path, "w") : stdout;
    int ok = f && fputs(text, f) >= 0;
    if (f && path)
        ok = fclose(f) == 0 && ok;
    free(text);
    if (!ok) {
        perror(path ? path : "stdout");
        return 1;
    }
    return 0;
}
