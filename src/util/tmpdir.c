/* The run's temporary folder: see tmpdir.h. */
#include "util/tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void remove_folder(const char *path);

/* Attempts at a folder of its own: another run's tmpdir_sweep may take a folder made
 * and not yet locked for a dead run's, and remove it. */
#define OPEN_ATTEMPTS 100

/* 1 when path is still the directory fd holds (not removed, not replaced). */
static int still_there(const char *path, int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

status tmpdir_open(tmpdir *t, const char *base, errinfo *err)
{
    t->lock_fd = -1;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        int n = snprintf(t->path, sizeof t->path, "%s/" TMPDIR_PREFIX "XXXXXX", base);
        if (n < 0 || (size_t)n >= sizeof t->path) {
            t->path[0] = '\0';
            return err_set(err, ST_CONFIG, "the temporary folder's path is too long: %.200s", base);
        }
        if (!mkdtemp(t->path)) {
            int e = errno;
            t->path[0] = '\0';
            return err_set(err, ST_IO,
                           "cannot create a temporary folder in %s (ATTENDANCE_TMPDIR or "
                           "TMPDIR): %s",
                           base, strerror(e));
        }
        /* held by a sweep (which removes it), or removed before the lock was ours: the
         * folder is gone or going, and another is made */
        int fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            if (still_there(t->path, fd)) {
                t->lock_fd = fd;
                return ST_OK;
            }
            close(fd);
            continue;
        }
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (fd >= 0 && e == EWOULDBLOCK)
            continue;
        remove_folder(t->path);
        t->path[0] = '\0';
        return err_set(err, ST_IO, "cannot lock the temporary folder: %s", strerror(e));
    }
    t->path[0] = '\0';
    return err_set(err, ST_IO,
                   "cannot lock a temporary folder in %s: %d attempts were each removed by "
                   "another run's sweep",
                   base, OPEN_ATTEMPTS);
}

int tmpdir_file(const tmpdir *t, const char *name, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/%s", t->path, name);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int tmpdir_create(tmpdir *t, const char *name, errinfo *err)
{
    char path[4352];
    if (tmpdir_file(t, name, path, sizeof path) != 0) {
        err_set(err, ST_IO, "a temporary file's path is too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        err_set(err, ST_IO, "cannot create %s: %s", path, strerror(errno));
    return fd;
}

/* Removes the regular files in a folder and the folder (nothing deeper: the job
 * makes none). */
static void remove_folder(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[4352];
            if (snprintf(p, sizeof p, "%s/%s", path, de->d_name) < (int)sizeof p)
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

void tmpdir_close(tmpdir *t)
{
    if (t->path[0])
        remove_folder(t->path);
    t->path[0] = '\0';
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    t->lock_fd = -1;
}

int tmpdir_sweep(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, TMPDIR_PREFIX, sizeof TMPDIR_PREFIX - 1) != 0)
            continue;
        char p[4352];
        if (snprintf(p, sizeof p, "%s/%s", base, de->d_name) >= (int)sizeof p)
            continue;
        /* only our own folders: a directory owned by this user */
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
            continue;
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            remove_folder(p);
            removed++;
        }
        close(fd);
    }
    closedir(d);
    return removed;
}
