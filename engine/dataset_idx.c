/* dataset_idx.c: IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw.
 *
 * Format: big-endian magic 0x00 0x00 0x08 ndims (0x08 = u8), then ndims u32 dims, then the u8
 * payload. Images are idx3 [n, rows, cols], labels idx1 [n]. Counts are checked against the
 * file's length (raw) or the most a gzip stream of that size can hold (about 1032:1 for deflate)
 * before anything is allocated; truncated streams, bad checksums and trailing bytes are refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "dataset.h"

#define IDX_MAX_COUNT 2147483647ull   /* positions are int64 but orders are u32 */
#define IDX_MAX_SIDE 65535u
#define DEFLATE_MAX_RATIO 1032ull

/* An open IDX file: zlib reads gzip and raw files alike (gzdirect). */
typedef struct idx_file {
    const char *path;
    gzFile gz;
    int is_gz;
    uint64_t file_bytes;
    uint64_t offset;          /* uncompressed bytes consumed so far */
} idx_file;

static difu_status idx_open(idx_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return difu_errf(err, errlen, DIFU_ERR_IO, "idx: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, fp);
    int fstat_ok = fstat(fileno(fp), &st) == 0;
    fclose(fp);
    if (!fstat_ok)
        return difu_errf(err, errlen, DIFU_ERR_IO, "idx: cannot stat %s", path);
    if (got == 0)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT, "idx: %s is empty", path);
    f->file_bytes = (uint64_t)st.st_size;
    f->is_gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return difu_errf(err, errlen, DIFU_ERR_IO, "idx: cannot open %s: %s", path, strerror(errno));
    gzbuffer(f->gz, 1u << 17);
    return DIFU_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* zlib's message for the last error without the path it prefixes, "" when there is none. */
static const char *zlib_message(idx_file *f)
{
    int zerr = Z_OK;
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr == Z_OK || zerr == Z_STREAM_END || !msg)
        return "";
    size_t n = strlen(f->path);
    if (strncmp(msg, f->path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        msg += n + 2;
    return msg;
}

/* Reads exactly n bytes or explains where the stream ended. */
static difu_status idx_read(idx_file *f, void *dst, uint64_t n, const char *what, char *err,
                            size_t errlen)
{
    unsigned char *p = dst;
    uint64_t want = n;
    while (want > 0) {
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int got = gzread(f->gz, p, chunk);
        if (got <= 0) {
            const char *msg = zlib_message(f);
            return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                             "idx: %s: truncated %s: the %s ends at %s byte offset %" PRIu64
                             ", %" PRIu64 " more bytes expected%s%s%s", f->path, what,
                             f->is_gz ? "gzip stream" : "file",
                             f->is_gz ? "uncompressed" : "file", f->offset, want,
                             *msg ? " (zlib: " : "", msg, *msg ? ")" : "");
        }
        p += got;
        want -= (uint64_t)got;
        f->offset += (uint64_t)got;
    }
    return DIFU_OK;
}

/* After the payload: nothing may follow, and a gzip stream must end with a good checksum. */
static difu_status idx_expect_end(idx_file *f, char *err, size_t errlen)
{
    unsigned char extra[64];
    int got = gzread(f->gz, extra, sizeof extra);
    if (got > 0)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "idx: %s: unexpected data after byte offset %" PRIu64
                         " (the header's counts end there)", f->path, f->offset);
    const char *msg = zlib_message(f);
    if (got < 0 || *msg)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "idx: %s: gzip stream truncated or damaged after uncompressed byte "
                         "offset %" PRIu64 " (zlib: %s)", f->path, f->offset,
                         *msg ? msg : "unknown error");
    return DIFU_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Reads and checks the header of an idx file of `ndims` u8 dims; writes the dims and the payload
 * size, refusing counts the file cannot hold. */
static difu_status idx_header(idx_file *f, int ndims, uint32_t *dims, uint64_t *payload,
                              char *err, size_t errlen)
{
    unsigned char hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndims;
    difu_status st = idx_read(f, hdr, hlen, "header", err, errlen);
    if (st != DIFU_OK)
        return st;
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != ndims)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "idx: %s: bad magic 0x%02x%02x%02x%02x at byte offset 0, expected "
                         "0x000008%02x (u8, %d dims)%s", f->path, hdr[0], hdr[1], hdr[2], hdr[3],
                         ndims, ndims, hdr[0] == 0x1f ? " (a damaged gzip header?)" : "");
    uint64_t total = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        uint64_t limit = i == 0 ? IDX_MAX_COUNT : IDX_MAX_SIDE;
        if (dims[i] == 0 || dims[i] > limit)
            return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                             "idx: %s: dimension %d at byte offset %d is %" PRIu32
                             ", expected 1..%" PRIu64, f->path, i, 4 + 4 * i, dims[i], limit);
        total *= dims[i];   /* < 2^31 * 2^16 * 2^16: no overflow */
    }
    uint64_t needed = hlen + total;
    char shape[48];
    if (ndims == 3)
        snprintf(shape, sizeof shape, "%" PRIu32 " x %" PRIu32 " x %" PRIu32, dims[0], dims[1],
                 dims[2]);
    else
        snprintf(shape, sizeof shape, "%" PRIu32, dims[0]);
    if (!f->is_gz && needed != f->file_bytes)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "idx: %s: the header's dims (%s) need %" PRIu64 " bytes but the file "
                         "has %" PRIu64 " (%s)", f->path, shape, needed, f->file_bytes,
                         needed > f->file_bytes ? "truncated, or the header is wrong"
                                                : "trailing bytes, or the header is wrong");
    if (f->is_gz && needed > DEFLATE_MAX_RATIO * f->file_bytes + 1024)
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "idx: %s: the header's dims (%s) need %" PRIu64 " bytes, more than a %"
                         PRIu64 "-byte gzip stream can hold", f->path, shape, needed,
                         f->file_bytes);
    *payload = total;
    return DIFU_OK;
}

static difu_status load_images(const char *path, difu_u8_set *out, char *err, size_t errlen)
{
    idx_file f;
    difu_status st = idx_open(&f, path, err, errlen);
    uint32_t dims[3];
    uint64_t payload = 0;
    if (st == DIFU_OK)
        st = idx_header(&f, 3, dims, &payload, err, errlen);
    if (st == DIFU_OK) {
        out->pixels = malloc(payload);
        if (!out->pixels)
            st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "idx: %s: cannot allocate %" PRIu64
                           " bytes for %" PRIu32 " images", path, payload, dims[0]);
    }
    if (st == DIFU_OK)
        st = idx_read(&f, out->pixels, payload, "image data", err, errlen);
    if (st == DIFU_OK)
        st = idx_expect_end(&f, err, errlen);
    idx_close(&f);
    if (st != DIFU_OK)
        return st;
    out->count = dims[0];
    out->c = 1;
    out->h = (int)dims[1];
    out->w = (int)dims[2];
    return DIFU_OK;
}

static difu_status load_labels(const char *path, difu_u8_set *out, char *err, size_t errlen)
{
    idx_file f;
    difu_status st = idx_open(&f, path, err, errlen);
    uint32_t n = 0;
    uint64_t payload = 0;
    if (st == DIFU_OK)
        st = idx_header(&f, 1, &n, &payload, err, errlen);
    if (st == DIFU_OK && (int64_t)n != out->count)
        st = difu_errf(err, errlen, DIFU_ERR_FORMAT,
                       "idx: %s: %" PRIu32 " labels at byte offset 4, but the images file has %"
                       PRId64 " images", path, n, out->count);
    if (st == DIFU_OK) {
        out->labels = malloc(payload);
        if (!out->labels)
            st = difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, "idx: %s: cannot allocate labels",
                           path);
    }
    if (st == DIFU_OK)
        st = idx_read(&f, out->labels, payload, "label data", err, errlen);
    if (st == DIFU_OK)
        st = idx_expect_end(&f, err, errlen);
    idx_close(&f);
    for (uint32_t i = 0; st == DIFU_OK && i < n; i++)
        if (out->labels[i] >= DIFU_DATASET_CLASSES)
            st = difu_errf(err, errlen, DIFU_ERR_FORMAT,
                           "idx: %s: label %u of image %" PRIu32 " (byte offset %" PRIu32
                           ") is out of range [0, %d)", path, out->labels[i], i, 8 + i,
                           DIFU_DATASET_CLASSES);
    if (st == DIFU_OK)
        out->classes = DIFU_DATASET_CLASSES;
    return st;
}

difu_status difu_load_idx(const char *images_path, const char *labels_path, difu_u8_set *out,
                          char *err, size_t errlen)
{
    difu_u8_set s = {0};
    difu_status st = load_images(images_path, &s, err, errlen);
    if (st == DIFU_OK)
        st = load_labels(labels_path, &s, err, errlen);
    if (st != DIFU_OK) {
        difu_u8_set_free(&s);
        return st;
    }
    *out = s;
    return DIFU_OK;
}

difu_status difu_idx_find(const char *dir, const char *name, char *path, size_t pathlen,
                          char *err, size_t errlen)
{
    /* "train-images-idx3-ubyte" is also distributed as "train-images.idx3-ubyte". */
    char dotted[128];
    snprintf(dotted, sizeof dotted, "%s", name);
    char *dash = strstr(dotted, "-idx");
    if (dash)
        *dash = '.';
    const char *names[2] = {name, dotted};
    const char *suffixes[2] = {"", ".gz"};
    struct stat st;
    for (int n = 0; n < 2; n++)
        for (int s = 0; s < 2; s++) {
            int len = snprintf(path, pathlen, "%s/%s%s", dir, names[n], suffixes[s]);
            if (len > 0 && (size_t)len < pathlen && stat(path, &st) == 0 && S_ISREG(st.st_mode))
                return DIFU_OK;
        }
    return difu_errf(err, errlen, DIFU_ERR_IO, "idx: neither %s/%s nor %s/%s.gz exists", dir, name,
                     dir, name);
}
