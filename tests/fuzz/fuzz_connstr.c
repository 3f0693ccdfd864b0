/* Fuzzes the connection string parser: no crash, no leak, a result that keeps
 * its promises (an endpoint and a credential), and error messages that do not
 * depend on the secrets: the same input with every letter and digit of the
 * AccountKey and SharedAccessSignature values changed must fail the same way. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char rotate(char c)
{
    if (c >= 'a' && c <= 'z')
        return c == 'z' ? 'a' : (char)(c + 1);
    if (c >= 'A' && c <= 'Z')
        return c == 'Z' ? 'A' : (char)(c + 1);
    if (c >= '0' && c <= '9')
        return c == '9' ? '0' : (char)(c + 1);
    return c;
}

static int is_secret_key(const char *k, size_t n)
{
    while (n && isspace((unsigned char)*k)) {
        k++;
        n--;
    }
    while (n && isspace((unsigned char)k[n - 1]))
        n--;
    return (n == 10 && strncasecmp(k, "AccountKey", 10) == 0) ||
           (n == 21 && strncasecmp(k, "SharedAccessSignature", 21) == 0);
}

/* Changes the letters and digits of every secret value, in place. */
static void mutate_secrets(char *s)
{
    char *p = s;
    while (*p) {
        size_t len = strcspn(p, ";");
        char *eq = memchr(p, '=', len);
        if (eq && is_secret_key(p, (size_t)(eq - p)))
            for (char *v = eq + 1; v < p + len; v++)
                *v = rotate(*v);
        p += len;
        if (*p)
            p++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char *m = malloc(size + 1);
    if (!s || !m) {
        free(s);
        free(m);
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    memcpy(m, s, size + 1);
    mutate_secrets(m);

    store_connstr c, cm;
    errinfo err = {0}, errm = {0};
    status st = store_connstr_parse(s, &c, &err);
    status stm = store_connstr_parse(m, &cm, &errm);
    if (st != stm)
        abort();
    if (st == ST_OK) {
        if (!c.blob_endpoint || (!c.account_key && !c.sas))
            abort();
        if (c.account_key && !c.account_name)
            abort();
        if (strncmp(c.blob_endpoint, "http", 4) != 0 || strchr(c.blob_endpoint, '?'))
            abort();
        if (strcmp(c.blob_endpoint, cm.blob_endpoint) != 0)
            abort();
    } else {
        if (c.account_name || c.account_key || c.sas || c.blob_endpoint || !err.msg[0])
            abort();
        if (strcmp(err.msg, errm.msg) != 0)
            abort();
    }
    store_connstr_dispose(&c);
    store_connstr_dispose(&cm);
    free(s);
    free(m);
    return 0;
}
