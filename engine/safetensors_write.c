/* safetensors_write.c: writing safetensors files atomically (see safetensors.h): the header built
 * with cJSON (integers as raw text, so sizes past 2^31 print exactly), a temporary file next to
 * the target, fsync, rename, fsync of the folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "difu writes tensors in host byte order, which must be little-endian"
#endif

uint64_t difu_st_digest(const void *data, size_t bytes)
{
    return XXH3_64bits(data, bytes);
}

/* ---------------------------------------------------------------- header */

static int add_raw_int(cJSON *array, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    cJSON *item = cJSON_CreateRaw(num);
    return item && cJSON_AddItemToArray(array, item);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first duplicate among n strings, or NULL. */
static const char *first_duplicate(const char **names, int n, int *oom)
{
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        *oom = 1;
        return NULL;
    }
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_str);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* Checks the tensors and metadata; sizes[i] gets each tensor's byte count. */
static difu_status check_inputs(difu_engine *e, const char *path, const difu_st_out *t, int n,
                                const difu_st_kv *meta, int n_meta, uint64_t *sizes)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !t) || (n_meta > 0 && !meta))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: bad tensor or metadata list", path);
    for (int i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor %d has an empty or reserved name",
                             path, i);
        if (t[i].dtype < 0 || t[i].dtype >= DIFU_ST_DTYPE_COUNT)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor '%s' has an unknown dtype", path,
                             name);
        if (t[i].ndim < 0 || t[i].ndim > DIFU_ST_MAX_DIMS)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor '%s' has %d dimensions (0..%d)",
                             path, name, t[i].ndim, DIFU_ST_MAX_DIMS);
        uint64_t bytes = difu_st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) {
            int64_t s = t[i].shape[d];
            if (s < 0 || s > ((int64_t)1 << 40))
                return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor '%s' dim %d is %lld", path,
                                 name, d, (long long)s);
            bytes = s == 0 ? 0 : bytes * (uint64_t)s;
            if (bytes > ((uint64_t)1 << 50))
                return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor '%s' is too large", path,
                                 name);
        }
        if (bytes > 0 && !t[i].data)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor '%s' has no data", path, name);
        sizes[i] = bytes;
    }
    for (int i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: metadata pair %d is incomplete", path, i);
    int count = n > n_meta ? n : n_meta, oom = 0;
    const char **names = malloc((size_t)(count ? count : 1) * sizeof *names);
    if (!names)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        names[i] = t[i].name;
    const char *dup = first_duplicate(names, n, &oom);
    difu_status s = DIFU_OK;
    if (dup)
        s = difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: tensor name '%s' appears twice", path, dup);
    for (int i = 0; s == DIFU_OK && !oom && i < n_meta; i++)
        names[i] = meta[i].key;
    if (s == DIFU_OK && !oom && (dup = first_duplicate(names, n_meta, &oom)))
        s = difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: metadata key '%s' appears twice", path, dup);
    free(names);
    if (s == DIFU_OK && oom)
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
    return s;
}

/* The header text padded with spaces so that 8 + length is a multiple of 8 (malloc'd). */
static char *build_header(const difu_st_out *t, int n, const difu_st_kv *meta, int n_meta,
                          const uint64_t *sizes, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t at = 0;
    for (int i = 0; ok && i < n; i++) {
        cJSON *entry = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = NULL, *offsets = NULL;
        ok = entry && cJSON_AddStringToObject(entry, "dtype", difu_st_dtype_name(t[i].dtype)) &&
             (shape = cJSON_AddArrayToObject(entry, "shape")) &&
             (offsets = cJSON_AddArrayToObject(entry, "data_offsets"));
        for (int d = 0; ok && d < t[i].ndim; d++)
            ok = add_raw_int(shape, (uint64_t)t[i].shape[d]);
        ok = ok && add_raw_int(offsets, at) && add_raw_int(offsets, at + sizes[i]);
        at += sizes[i];
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return NULL;
    size_t raw = strlen(text), padded = raw + (8 - (8 + raw) % 8) % 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, text, raw);
        memset(out + raw, ' ', padded - raw);
        out[padded] = 0;
        *len = padded;
    }
    cJSON_free(text);
    return out;
}

/* ---------------------------------------------------------------- atomic file */

/* The folder part of path ("." when none), malloc'd. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash && n == 0)
        n = 1; /* "/file" -> "/" */
    char *dir = malloc(n + 1);
    if (!dir)
        return NULL;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = 0;
    return dir;
}

/* Creates path.tmp-XXXXXX; on failure writes a message naming the folder. */
static int open_temp(difu_engine *e, const char *path, char **tmp_out, difu_status *st)
{
    *tmp_out = NULL;
    size_t n = strlen(path);
    char *tmp = malloc(n + 12);
    char *dir = folder_of(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        *st = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            *st = difu_fail(e, DIFU_ERR_IO, "%s: cannot write: the folder '%s' does not exist", path,
                            dir);
        else if (err == EACCES || err == EROFS || err == EPERM)
            *st = difu_fail(e, DIFU_ERR_IO, "%s: cannot write: the folder '%s' is not writable (%s)",
                            path, dir, strerror(err));
        else if (err == ENOTDIR)
            *st = difu_fail(e, DIFU_ERR_IO, "%s: cannot write: '%s' is not a folder", path, dir);
        else
            *st = difu_fail(e, DIFU_ERR_IO, "%s: cannot create a temporary file in '%s': %s", path,
                            dir, strerror(err));
        free(tmp);
        free(dir);
        return -1;
    }
    free(dir);
    *tmp_out = tmp;
    return fd;
}

static int write_all(int fd, const void *data, uint64_t bytes)
{
    const char *p = data;
    while (bytes > 0) {
        size_t chunk = bytes > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)bytes;
        ssize_t got = write(fd, p, chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = ENOSPC;
            return -1;
        }
        p += got;
        bytes -= (uint64_t)got;
    }
    return 0;
}

/* fsync of the folder holding path, so the rename itself survives a crash. Filesystems that
 * cannot sync a folder (EINVAL) are accepted. */
static int sync_folder(const char *path)
{
    char *dir = folder_of(path);
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int err = errno;
    close(fd);
    if (r != 0 && err != EINVAL && err != EROFS)
        return -1;
    return 0;
}

/* Removes the temporaries of earlier writes of path that were killed before their rename
 * (path.tmp-XXXXXX, the mkstemp pattern), so crashed runs do not fill the disk. Called after a
 * successful write only. */
static void remove_stale_temps(const char *path)
{
    char *dir = folder_of(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *ent;
    while (d && (ent = readdir(d))) {
        const char *name = ent->d_name;
        if (strlen(name) != blen + 11 || strncmp(name, base, blen) != 0 ||
            strncmp(name + blen, ".tmp-", 5) != 0)
            continue;
        size_t n = strlen(dir) + strlen(name) + 2;
        char *full = malloc(n);
        if (full) {
            snprintf(full, n, "%s/%s", dir, name);
            unlink(full);
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(dir);
}

difu_status difu_st_write(difu_engine *e, const char *path, const difu_st_out *tensors, int n,
                          const difu_st_kv *meta, int n_meta)
{
    if (!path || !path[0])
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "safetensors write: no file name");
    uint64_t *sizes = calloc((size_t)(n > 0 ? n : 1), sizeof *sizes);
    if (!sizes)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
    difu_status s = check_inputs(e, path, tensors, n, meta, n_meta, sizes);
    size_t hlen = 0;
    char *header = NULL;
    if (s == DIFU_OK && !(header = build_header(tensors, n, meta, n_meta, sizes, &hlen)))
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory building the header", path);
    char *tmp = NULL;
    int fd = s == DIFU_OK ? open_temp(e, path, &tmp, &s) : -1;
    if (fd >= 0) {
        /* keep the mode of the file being replaced; a new one gets rw-r--r-- */
        struct stat old;
        (void)fchmod(fd, stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644);
        unsigned char len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        uint64_t total = 8 + hlen, done = 0;
        for (int i = 0; i < n; i++)
            total += sizes[i];
        const char *step = "write";
        int bad = write_all(fd, len8, 8) || write_all(fd, header, hlen);
        done = bad ? 0 : 8 + hlen;
        for (int i = 0; !bad && i < n; i++) {
            bad = write_all(fd, tensors[i].data, sizes[i]);
            done += bad ? 0 : sizes[i];
        }
        if (!bad && fsync(fd) != 0) {
            bad = 1;
            step = "fsync";
        }
        int err = errno;
        if (close(fd) != 0 && !bad) {
            bad = 1;
            err = errno;
            step = "close";
        }
        if (!bad && rename(tmp, path) != 0) {
            bad = 1;
            err = errno;
            step = "rename";
        }
        if (bad) {
            unlink(tmp);
            s = difu_fail(e, DIFU_ERR_IO,
                          "%s: %s failed after %llu of %llu bytes (%s); the previous file, if any, "
                          "is unchanged",
                          path, step, (unsigned long long)done, (unsigned long long)total,
                          strerror(err));
        } else if (sync_folder(path) != 0) {
            s = difu_fail(e, DIFU_ERR_IO, "%s: written, but syncing its folder failed (%s)", path,
                          strerror(errno));
        } else {
            remove_stale_temps(path);
        }
    }
    free(tmp);
    free(header);
    free(sizes);
    return s;
}

difu_status difu_st_check_writable(difu_engine *e, const char *path)
{
    if (!path || !path[0])
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "no output file name");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return difu_fail(e, DIFU_ERR_IO, "%s: is a folder, not a file name", path);
    char *tmp = NULL;
    difu_status s = DIFU_OK;
    int fd = open_temp(e, path, &tmp, &s);
    if (fd < 0)
        return s;
    close(fd);
    unlink(tmp);
    free(tmp);
    return DIFU_OK;
}
