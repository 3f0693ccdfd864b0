/* Local folder sink: see localdir.h. */
#include "store/localdir.h"
#include "store/driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

struct localdir {
    char *root;
    mode_t file_mode;
};

static status nomem(errinfo *err)
{
    return err_set(err, ST_NOMEM, "out of memory in the output folder sink");
}

status localdir_open(localdir **out, const char *dir, errinfo *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return err_set(err, ST_CONFIG,
                       "the output folder is empty (ATTENDANCE_OUTPUT_DIR or "
                       "--output-dir)");
    localdir *d = calloc(1, sizeof *d);
    if (!d || !(d->root = strdup(dir))) {
        free(d);
        return nomem(err);
    }
    size_t n = strlen(d->root);
    while (n > 1 && d->root[n - 1] == '/')
        d->root[--n] = '\0';
    /* attendance is personal data: files 0640 and folders 0750, or less when the
     * operator's umask says so */
    mode_t mask = umask(022);
    umask(mask);
    d->file_mode = 0640 & ~mask;
    *out = d;
    return ST_OK;
}

void localdir_free(localdir *d)
{
    if (!d)
        return;
    free(d->root);
    free(d);
}

const char *localdir_describe(const localdir *d)
{
    return d->root;
}

void localdir_etag(const void *data, size_t len, char out[STORE_ETAG_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    *p++ = '"';
    for (int i = 0; i < 16; i++) {
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 15];
    }
    *p++ = '"';
    *p = '\0';
}

/* root + "/" + name (name may be NULL or ""); the caller frees. */
static char *join(const localdir *d, const char *name)
{
    size_t n = strlen(d->root) + (name ? strlen(name) : 0) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", d->root,
                 name && *name && d->root[strlen(d->root) - 1] != '/' ? "/" : "", name ? name : "");
    return p;
}

/* mkdir -p of path[0..len). */
static status make_dirs(char *path, size_t len, errinfo *err)
{
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        char saved = path[i];
        path[i] = '\0';
        int rc = mkdir(path, 0750);
        int e = errno;
        struct stat sb;
        if (rc != 0 && e == EEXIST && (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)))
            rc = -1, e = ENOTDIR;
        else if (rc != 0 && e == EEXIST)
            rc = 0;
        if (rc != 0) {
            status st = err_set(err, ST_IO, "cannot create folder %s: %s", path, strerror(e));
            path[i] = saved;
            return st;
        }
        path[i] = saved;
    }
    return ST_OK;
}

status localdir_prepare(localdir *d, errinfo *err)
{
    char *p = strdup(d->root);
    if (!p)
        return nomem(err);
    status st = make_dirs(p, strlen(p), err);
    free(p);
    return st;
}

status localdir_check(localdir *d, errinfo *err)
{
    char *p = strdup(d->root);
    if (!p)
        return nomem(err);
    status st = ST_OK;
    struct stat sb;
    if (stat(p, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            st = err_set(err, ST_IO, "output folder %s is not a folder", p);
        else if (access(p, W_OK | X_OK) != 0)
            st = err_set(err, ST_IO, "output folder %s is not writable: %s", p, strerror(errno));
        goto out;
    }
    /* missing: the nearest existing parent must let the run create it */
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            strcpy(p, ".");
        } else if (slash == p) {
            p[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode) || access(p, W_OK | X_OK) != 0)
                st = err_set(err, ST_IO,
                             "output folder %s does not exist and %s does not let it "
                             "be created",
                             d->root, p);
            break;
        }
        if (strcmp(p, "/") == 0 || strcmp(p, ".") == 0) {
            st = err_set(err, ST_IO, "output folder %s cannot be created", d->root);
            break;
        }
    }
out:
    free(p);
    return st;
}

static status read_all(int fd, buf *out, const char *path, errinfo *err)
{
    buf_reset(out);
    for (;;) {
        /* within the cap: a buffer capped at 64 KiB must still read a 64 KiB file */
        size_t want = 65536;
        if (out->cap) {
            size_t room = out->cap - out->len;
            if (room == 0) {
                char probe;
                ssize_t r = read(fd, &probe, 1);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0)
                    return err_set(err, ST_IO, "cannot read %s: %s", path, strerror(errno));
                if (r == 0)
                    break;
                return err_set(err, ST_TOO_LARGE, "%s is larger than %zu bytes", path, out->cap);
            }
            want = room < want ? room : want;
        }
        status st = buf_reserve(out, want, err);
        if (st != ST_OK)
            return st;
        ssize_t r = read(fd, out->data + out->len, out->alloc - out->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_set(err, ST_IO, "cannot read %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        if (out->cap && out->len + (size_t)r > out->cap)
            return err_set(err, ST_TOO_LARGE, "%s is larger than %zu bytes", path, out->cap);
        out->len += (size_t)r;
        out->data[out->len] = '\0';
    }
    return ST_OK;
}

status localdir_get(localdir *d, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                    errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    char *path = join(d, name);
    if (!path)
        return nomem(err);
    status st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            st = err_set(err, ST_NOT_FOUND, "%s does not exist", path);
        else
            st = err_set(err, ST_IO, "cannot open %s: %s", path, strerror(errno));
        free(path);
        return st;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = err_set(err, ST_IO, "%s is not a regular file", path);
    else
        st = read_all(fd, out, path, err);
    if (st == ST_OK && etag_out)
        localdir_etag(out->data, out->len, etag_out);
    close(fd);
    free(path);
    return st;
}

static status write_all(int fd, const char *p, size_t n, const char *path, errinfo *err)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return err_set(err, ST_IO, "cannot write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return ST_OK;
}

/* One write in progress: the target, its folder (locked) and the temporary file. */
typedef struct writer {
    char *target;
    char *tmp;
    int dirfd;
    int fd;
} writer;

static void writer_close(writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp)
        unlink(w->tmp);
    if (w->dirfd >= 0)
        close(w->dirfd); /* releases the lock */
    free(w->target);
    free(w->tmp);
    w->target = w->tmp = NULL;
    w->fd = w->dirfd = -1;
}

/* Creates the folders, locks the target's folder, opens a temporary file beside it. */
static status writer_open(localdir *d, const char *name, writer *w, errinfo *err)
{
    w->target = w->tmp = NULL;
    w->fd = w->dirfd = -1;
    if (!(w->target = join(d, name)))
        return nomem(err);
    /* the target always has a '/': the root is not empty */
    char *slash = strrchr(w->target, '/');
    size_t dirlen = (size_t)(slash - w->target);
    const char *base = slash + 1;
    status st = ST_OK;
    if (dirlen && (st = make_dirs(w->target, dirlen, err)) != ST_OK)
        goto fail;
    {
        char *dir = dirlen ? strndup(w->target, dirlen) : strdup("/");
        if (!dir) {
            st = nomem(err);
            goto fail;
        }
        w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int e = errno;
        free(dir);
        if (w->dirfd < 0) {
            st = err_set(err, ST_IO, "cannot open the folder of %s: %s", w->target, strerror(e));
            goto fail;
        }
    }
    while (flock(w->dirfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            st =
                err_set(err, ST_IO, "cannot lock the folder of %s: %s", w->target, strerror(errno));
            goto fail;
        }
    }
    size_t tn = strlen(w->target) + 16;
    if (!(w->tmp = malloc(tn))) {
        st = nomem(err);
        goto fail;
    }
    /* a leading '.' keeps readers (Synapse, Spark) from picking up a partial file */
    snprintf(w->tmp, tn, "%.*s.%s.XXXXXX", (int)(dirlen + 1), w->target, base);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        st = err_set(err, ST_IO, "cannot create a temporary file beside %s: %s", w->target,
                     strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        goto fail;
    }
    if (fchmod(w->fd, d->file_mode) != 0) {
        st = err_set(err, ST_IO, "cannot set the mode of %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    return ST_OK;
fail:
    writer_close(w);
    return st;
}

/* Makes the temporary file durable. */
static status writer_sync(writer *w, errinfo *err)
{
    if (fsync(w->fd) != 0)
        return err_set(err, ST_IO, "cannot sync %s: %s", w->tmp, strerror(errno));
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0)
        return err_set(err, ST_IO, "cannot write %s: %s", w->tmp, strerror(errno));
    return ST_OK;
}

/* Puts the temporary file in place (link when it must not replace anything). */
static status writer_commit(writer *w, int exclusive, errinfo *err)
{
    if (exclusive) {
        if (link(w->tmp, w->target) != 0) {
            if (errno == EEXIST)
                return err_set(err, ST_CONFLICT, "%s already exists (If-None-Match: *)", w->target);
            return err_set(err, ST_IO, "cannot create %s: %s", w->target, strerror(errno));
        }
        unlink(w->tmp);
    } else if (rename(w->tmp, w->target) != 0) {
        return err_set(err, ST_IO, "cannot replace %s: %s", w->target, strerror(errno));
    }
    free(w->tmp);
    w->tmp = NULL;
    if (fsync(w->dirfd) != 0)
        return err_set(err, ST_IO, "cannot sync the folder of %s: %s", w->target, strerror(errno));
    return ST_OK;
}

/* Under the folder lock: does the current content still have this ETag? */
static status check_if_match(const char *target, const char *etag, errinfo *err)
{
    int fd = open(target, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, ST_PRECONDITION, "%s does not exist any more (If-Match %s)", target,
                           etag);
        return err_set(err, ST_IO, "cannot open %s: %s", target, strerror(errno));
    }
    buf cur;
    buf_init(&cur, 0);
    status st = read_all(fd, &cur, target, err);
    close(fd);
    if (st == ST_OK) {
        char now[STORE_ETAG_MAX];
        localdir_etag(cur.data, cur.len, now);
        if (strcmp(now, etag) != 0)
            st = err_set(err, ST_PRECONDITION, "%s changed since it was read (If-Match %s)", target,
                         etag);
    }
    buf_dispose(&cur);
    return st;
}

status localdir_put(localdir *d, const char *name, const void *data, size_t len, store_cond cond,
                    const char *etag, char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    if (etag_out)
        etag_out[0] = '\0';
    if (cond == STORE_COND_IF_MATCH && (!etag || !*etag))
        return err_set(err, ST_INTERNAL, "writing %s: If-Match needs the ETag that was read", name);
    writer w;
    status st = writer_open(d, name, &w, err);
    if (st != ST_OK)
        return st;
    if ((st = write_all(w.fd, data, len, w.tmp, err)) == ST_OK &&
        (st = writer_sync(&w, err)) == ST_OK &&
        (cond != STORE_COND_IF_MATCH || (st = check_if_match(w.target, etag, err)) == ST_OK))
        st = writer_commit(&w, cond == STORE_COND_IF_NONE_MATCH, err);
    writer_close(&w);
    if (st == ST_OK && etag_out)
        localdir_etag(data, len, etag_out);
    return st;
}

/* Puts the file at path in the place of the writer's temporary file by a hard link,
 * when both are on one filesystem: the Parquet tables and large snapshots are not
 * copied byte by byte (at 1,000 mailboxes the copies held the end of the run for most
 * of a second). The file takes the folder's mode; the caller's name for it stays.
 * Returns 1 when linked (then w->fd is the linked file, *size its size), 0 when the
 * caller must copy (the temporary file is then as writer_open left it), -1 on an error
 * set in err. */
static int link_in(localdir *d, writer *w, const char *path, size_t *size, errinfo *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0; /* the copy names the problem */
    /* a second name beside the temporary file (its name with an L before the mkstemp
     * suffix), then renamed over it */
    size_t n = strlen(w->tmp);
    char *alt = malloc(n + 2);
    if (!alt) {
        nomem(err);
        return -1;
    }
    snprintf(alt, n + 2, "%.*sL%s", (int)(n - 6), w->tmp, w->tmp + n - 6);
    if (link(path, alt) != 0) {
        free(alt);
        return 0; /* another filesystem, or links refused: copy */
    }
    int fd = open(alt, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, d->file_mode) != 0 || rename(alt, w->tmp) != 0) {
        err_set(err, ST_IO, "cannot put %s beside %s: %s", path, w->target, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(alt);
        free(alt);
        return -1;
    }
    free(alt);
    close(w->fd);
    w->fd = fd;
    *size = (size_t)sb.st_size;
    return 1;
}

/* Copies the file at path into the writer's temporary file. */
static status copy_in(writer *w, const char *path, size_t *size, errinfo *err)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_set(err, ST_IO, "cannot open %s: %s", path, strerror(errno));
    char *chunk = malloc(COPY_CHUNK);
    if (!chunk) {
        close(in);
        return nomem(err);
    }
    status st = ST_OK;
    while (st == ST_OK) {
        ssize_t r = read(in, chunk, COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = err_set(err, ST_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        st = write_all(w->fd, chunk, (size_t)r, w->tmp, err);
        *size += (size_t)r;
    }
    free(chunk);
    close(in);
    return st;
}

status localdir_put_file(localdir *d, const char *name, const char *path, size_t *bytes_out,
                         errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    writer w;
    size_t size = 0;
    status st = writer_open(d, name, &w, err);
    if (st == ST_OK) {
        int linked = link_in(d, &w, path, &size, err);
        st = linked < 0 ? err->code : linked == 0 ? copy_in(&w, path, &size, err) : ST_OK;
    }
    if (st == ST_OK && (st = writer_sync(&w, err)) == ST_OK)
        st = writer_commit(&w, 0, err);
    writer_close(&w);
    if (st == ST_OK && bytes_out)
        *bytes_out = size;
    return st;
}

/* ---- listing, deleting, copying out ------------------------------------------- */

#define LIST_DEPTH_MAX 32

/* Walks the folder rel (under the root; "" for the root itself) and reports each
 * regular file whose name starts with prefix. Dot files are temporary files of a
 * write in progress, or the folder lock: never blobs. */
static status walk(localdir *d, buf *rel, const char *prefix, int depth, store_list_fn fn,
                   void *ctx, errinfo *err)
{
    if (depth > LIST_DEPTH_MAX)
        return ST_OK;
    char *path = join(d, rel->data);
    if (!path)
        return nomem(err);
    DIR *dir = opendir(path);
    if (!dir) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR)
            return ST_OK;
        return err_set(err, ST_IO, "cannot list folder %s: %s", rel->data, strerror(e));
    }
    size_t keep = rel->len;
    status st = ST_OK;
    struct dirent *de;
    while (st == ST_OK && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        rel->len = keep;
        rel->data[keep] = '\0';
        if ((st = buf_appendf(rel, err, "%s%s", keep ? "/" : "", de->d_name)) != ST_OK)
            break;
        size_t pl = strlen(prefix);
        /* go down only where the prefix can still match */
        size_t cmp = rel->len < pl ? rel->len : pl;
        if (strncmp(rel->data, prefix, cmp) != 0)
            continue;
        struct stat sb;
        char *full = join(d, rel->data);
        if (!full) {
            st = nomem(err);
            break;
        }
        int rc = lstat(full, &sb);
        free(full);
        if (rc != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(sb.st_mode))
            st = walk(d, rel, prefix, depth + 1, fn, ctx, err);
        else if (S_ISREG(sb.st_mode) && rel->len >= pl)
            st = fn(ctx, rel->data, (uint64_t)sb.st_size, err);
    }
    rel->len = keep;
    rel->data[keep] = '\0';
    closedir(dir);
    free(path);
    return st;
}

status localdir_list(localdir *d, const char *prefix, store_list_fn fn, void *ctx, errinfo *err)
{
    buf rel;
    buf_init(&rel, 0);
    status st = buf_appends(&rel, "", err);
    if (st == ST_OK)
        st = walk(d, &rel, prefix, 0, fn, ctx, err);
    buf_dispose(&rel);
    return st;
}

status localdir_delete(localdir *d, const char *name, errinfo *err)
{
    char *path = join(d, name);
    if (!path)
        return nomem(err);
    status st = ST_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        st = err_set(err, ST_IO, "cannot delete %s: %s", path, strerror(errno));
    free(path);
    return st;
}

status localdir_get_file(localdir *d, const char *name, const char *path, uint64_t *bytes_out,
                         errinfo *err)
{
    if (bytes_out)
        *bytes_out = 0;
    char *src = join(d, name);
    if (!src)
        return nomem(err);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        status st = e == ENOENT ? err_set(err, ST_NOT_FOUND, "%s does not exist", src)
                                : err_set(err, ST_IO, "cannot open %s: %s", src, strerror(e));
        free(src);
        return st;
    }
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *chunk = malloc(COPY_CHUNK);
    status st = ST_OK;
    uint64_t total = 0;
    if (out < 0)
        st = err_set(err, ST_IO, "cannot create %s: %s", path, strerror(errno));
    else if (!chunk)
        st = nomem(err);
    while (st == ST_OK) {
        ssize_t r = read(in, chunk, COPY_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = err_set(err, ST_IO, "cannot read %s: %s", src, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        st = write_all(out, chunk, (size_t)r, path, err);
        total += (uint64_t)r;
    }
    if (out >= 0 && close(out) != 0 && st == ST_OK)
        st = err_set(err, ST_IO, "cannot write %s: %s", path, strerror(errno));
    close(in);
    free(chunk);
    free(src);
    if (st == ST_OK && bytes_out)
        *bytes_out = total;
    return st;
}

/* ---- the driver ------------------------------------------------------------ */

static status check_settings(const config *cfg, errinfo *err)
{
    if (!cfg->output_dir || !*cfg->output_dir)
        return err_set(err, ST_CONFIG,
                       "the output folder is empty (ATTENDANCE_OUTPUT_DIR or --output-dir)");
    return ST_OK;
}

static status drv_open(void **impl, const config *cfg, http_engine *eng, errinfo *err)
{
    (void)eng;
    localdir *d = NULL;
    status st = localdir_open(&d, cfg->output_dir, err);
    *impl = d;
    return st;
}

static void drv_free(void *impl)
{
    localdir_free(impl);
}

static const char *drv_describe(const void *impl)
{
    return localdir_describe(impl);
}

static status drv_prepare(void *impl, errinfo *err)
{
    return localdir_prepare(impl, err);
}

static status drv_check(void *impl, errinfo *err)
{
    return localdir_check(impl, err);
}

static status drv_get(void *impl, const char *name, buf *out, char etag_out[STORE_ETAG_MAX],
                      errinfo *err)
{
    return localdir_get(impl, name, out, etag_out, err);
}

static status drv_get_async(void *impl, const char *name, size_t max_bytes, store_got_fn got,
                            void *ctx, errinfo *err)
{
    (void)err;
    buf b;
    buf_init(&b, max_bytes);
    char etag[STORE_ETAG_MAX] = "";
    errinfo e = {0};
    status st = localdir_get(impl, name, &b, etag, &e);
    got(ctx, st, &e, &b, etag);
    buf_dispose(&b);
    return ST_OK;
}

static status drv_put(void *impl, const char *name, const void *data, size_t len,
                      const char *content_type, store_cond cond, const char *etag,
                      char etag_out[STORE_ETAG_MAX], errinfo *err)
{
    (void)content_type; /* a file has none */
    return localdir_put(impl, name, data, len, cond, etag, etag_out, err);
}

/* A folder write is quick and local: done at once, `done` called before returning. */
static status drv_put_async(void *impl, const char *name, char *data, size_t len,
                            const char *content_type, store_cond cond, const char *etag,
                            store_done_fn done, void *ctx, errinfo *err)
{
    (void)content_type;
    (void)err;
    errinfo e = {0};
    char etag_out[STORE_ETAG_MAX] = "";
    status st = localdir_put(impl, name, data, len, cond, etag, etag_out, &e);
    free(data);
    done(ctx, st, &e, st == ST_OK ? etag_out : "");
    return ST_OK;
}

static status drv_put_file(void *impl, const char *name, const char *path, const char *content_type,
                           size_t *bytes_out, errinfo *err)
{
    (void)content_type;
    return localdir_put_file(impl, name, path, bytes_out, err);
}

static status drv_list(void *impl, const char *prefix, store_list_fn fn, void *ctx, errinfo *err)
{
    return localdir_list(impl, prefix, fn, ctx, err);
}

static status drv_del(void *impl, const char *name, errinfo *err)
{
    return localdir_delete(impl, name, err);
}

static status drv_get_file(void *impl, const char *name, const char *path, uint64_t *bytes_out,
                           errinfo *err)
{
    return localdir_get_file(impl, name, path, bytes_out, err);
}

const store_driver store_dir_driver = {
    .name = "folder",
    .check_settings = check_settings,
    .open = drv_open,
    .free = drv_free,
    .describe = drv_describe,
    .prepare = drv_prepare,
    .check = drv_check,
    .get = drv_get,
    .put = drv_put,
    .get_async = drv_get_async,
    .put_async = drv_put_async,
    .put_file = drv_put_file,
    .list = drv_list,
    .del = drv_del,
    .get_file = drv_get_file,
    .set_upload_sizes = NULL,
};
