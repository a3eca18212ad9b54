/* image_png.c: PNG files through libpng: reading any PNG as 8-bit, atomic writing, and the
 * public image and grid writers. */
#include "image_png.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "dataset.h"

#define GRID_BORDER 2
#define GRID_BORDER_VALUE 128
#define MAX_SCALE 64
#define MAX_CANVAS_SIDE 1000000   /* libpng's default user limit for width and height */

/* The reader's limits, checked from the header before the pixels are allocated (libpng notices
 * missing pixel data only while decoding, after the allocation): the decoded 8-bit image may
 * take at most READ_MAX_BYTES, and the file must be large enough to hold the compressed pixels
 * at deflate's best ratio (a 258-byte match in 2 bits: 1032 bytes out per byte in). */
#define READ_MAX_BYTES ((uint64_t)1 << 28)
#define DEFLATE_MAX_RATIO 1032

/* What a libpng callback reports back; lives outside the setjmp frame. */
typedef struct png_ctx {
    char message[320];
    FILE *fp;
    size_t offset;      /* bytes read so far */
    uint64_t file_bytes;
    int refused;        /* the header asked for more than the limits allow */
    uint8_t *pixels;
    png_bytep *rows;
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;   /* warnings (e.g. iCCP profiles) do not stop reading; stay quiet */
}

uint8_t difu_pixel_to_u8(float v)
{
    if (!(v >= -1.0f))   /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)((v + 1.0f) * 127.5f + 0.5f);
}

/* ---------------------------------------------------------------- reading */

static void on_png_read(png_structp png, png_bytep data, size_t len)
{
    png_ctx *ctx = png_get_io_ptr(png);
    size_t got = fread(data, 1, len, ctx->fp);
    ctx->offset += got;
    if (got != len) {
        char msg[96];
        snprintf(msg, sizeof msg, "truncated: the file ends at byte offset %zu", ctx->offset);
        png_error(png, msg);
    }
}

/* Checks the header's claims before anything is allocated for the pixels: the sides against
 * max_side, the decoded 8-bit size against READ_MAX_BYTES, and the least the compressed pixels
 * can take against the file's size. On refusal fills ctx->message and returns 0. */
static int header_within_limits(png_ctx *ctx, png_structp png, png_infop info, int max_side)
{
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int bits = png_get_bit_depth(png, info) * png_get_channels(png, info); /* as stored */
    /* channels after the reader's transforms: palettes become RGB, tRNS becomes alpha */
    int out_c = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        out_c++;
    uint64_t decoded = (uint64_t)w * h * (uint64_t)out_c;
    uint64_t least = (uint64_t)w * h * (uint64_t)bits / 8;   /* the filtered rows hold more */
    uint64_t most = (ctx->file_bytes + 1) * DEFLATE_MAX_RATIO;
    ctx->refused = 1;
    if (w > (png_uint_32)max_side || h > (png_uint_32)max_side)
        snprintf(ctx->message, sizeof ctx->message,
                 "%" PRIu32 " x %" PRIu32 " pixels: a side is over the reader's limit of %d",
                 (uint32_t)w, (uint32_t)h, max_side);
    else if (decoded > READ_MAX_BYTES)
        snprintf(ctx->message, sizeof ctx->message,
                 "%" PRIu32 " x %" PRIu32 " pixels of %d channels decode to %" PRIu64
                 " bytes, over the reader's cap of %" PRIu64 " bytes",
                 (uint32_t)w, (uint32_t)h, out_c, decoded, READ_MAX_BYTES);
    else if (least > most)
        snprintf(ctx->message, sizeof ctx->message,
                 "%" PRIu32 " x %" PRIu32 " pixels of %d bits need at least %" PRIu64
                 " bytes of image data, more than this %" PRIu64 "-byte file can hold (deflate "
                 "expands at most %d:1, so at most %" PRIu64 "): truncated or corrupt",
                 (uint32_t)w, (uint32_t)h, bits, least, ctx->file_bytes, DEFLATE_MAX_RATIO, most);
    else
        ctx->refused = 0;
    return !ctx->refused;
}

/* The libpng part of reading; on error the ctx holds the message and what to free. */
static int png_read_into(png_ctx *ctx, int max_side, int *h, int *w, int *c)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error,
                                             on_png_warning);
    if (!png) {
        snprintf(ctx->message, sizeof ctx->message, "cannot create a libpng reader");
        return 0;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info)
            snprintf(ctx->message, sizeof ctx->message, "cannot create a libpng info struct");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return 0;
    }
    png_set_read_fn(png, ctx, on_png_read);
    png_read_info(png, info);
    if (!header_within_limits(ctx, png, info, max_side)) {
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t height = png_get_image_height(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((uint64_t)height * rowbytes > READ_MAX_BYTES) /* header_within_limits computed less */
        png_error(png, "internal: the decoded size exceeds what the header check allowed");
    ctx->pixels = malloc(height * rowbytes);
    ctx->rows = malloc(height * sizeof *ctx->rows);
    if (!ctx->pixels || !ctx->rows)
        png_error(png, "out of memory");
    for (size_t y = 0; y < height; y++)
        ctx->rows[y] = ctx->pixels + y * rowbytes;
    png_read_image(png, ctx->rows);
    png_read_end(png, NULL);
    *h = (int)height;
    *w = (int)png_get_image_width(png, info);
    *c = png_get_channels(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return 1;
}

difu_status difu_png_read_u8(const char *path, int max_side, uint8_t **pixels, int *h, int *w,
                             int *c, char *err, size_t errlen)
{
    png_ctx ctx = {.fp = fopen(path, "rb")};
    if (!ctx.fp)
        return difu_errf(err, errlen, DIFU_ERR_IO, "png: cannot open %s: %s", path,
                         strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, ctx.fp);
    if (got != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(ctx.fp);
        return difu_errf(err, errlen, DIFU_ERR_FORMAT,
                         "png: %s: not a PNG file (bad signature in the first 8 bytes)", path);
    }
    rewind(ctx.fp);
    struct stat sb;
    ctx.file_bytes = fstat(fileno(ctx.fp), &sb) == 0 && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    int ih = 0, iw = 0, ic = 0;
    int ok = png_read_into(&ctx, max_side, &ih, &iw, &ic);
    fclose(ctx.fp);
    free(ctx.rows);
    if (!ok) {
        free(ctx.pixels);
        return difu_errf(err, errlen, DIFU_ERR_FORMAT, "png: %s: %s: %s", path,
                         ctx.refused ? "refused" : "unreadable", ctx.message);
    }
    *pixels = ctx.pixels;
    *h = ih;
    *w = iw;
    *c = ic;
    return DIFU_OK;
}

/* ---------------------------------------------------------------- writing */

static void on_png_write(png_structp png, png_bytep data, size_t len)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (fwrite(data, 1, len, ctx->fp) != len)
        png_error(png, strerror(errno ? errno : EIO));
}

static void on_png_flush(png_structp png)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (fflush(ctx->fp) != 0)
        png_error(png, strerror(errno ? errno : EIO));
}

static int png_write_from(png_ctx *ctx, const uint8_t *pixels, int h, int w, int c)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error,
                                              on_png_warning);
    if (!png) {
        snprintf(ctx->message, sizeof ctx->message, "cannot create a libpng writer");
        return 0;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info)
            snprintf(ctx->message, sizeof ctx->message, "cannot create a libpng info struct");
        png_destroy_write_struct(&png, info ? &info : NULL);
        return 0;
    }
    png_set_write_fn(png, ctx, on_png_write, on_png_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, pixels + (size_t)y * w * c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 1;
}

/* fsyncs the folder holding path, so the rename itself is durable. */
static void sync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);   /* best effort: some filesystems refuse fsync on folders */
        close(fd);
    }
}

difu_status difu_png_write_u8(const char *path, const uint8_t *pixels, int h, int w, int c,
                              char *err, size_t errlen)
{
    char tmp[4096];
    int len = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (len < 0 || (size_t)len >= sizeof tmp)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, "png: path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return difu_errf(err, errlen, DIFU_ERR_IO, "png: cannot create a temporary file for %s: %s",
                         path, strerror(errno));
    fchmod(fd, 0644);
    png_ctx ctx = {.fp = fdopen(fd, "wb")};
    if (!ctx.fp) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return difu_errf(err, errlen, DIFU_ERR_IO, "png: cannot write %s: %s", tmp, strerror(e));
    }
    errno = 0;
    int ok = png_write_from(&ctx, pixels, h, w, c);
    if (ok && fflush(ctx.fp) != 0) {
        snprintf(ctx.message, sizeof ctx.message, "flush: %s", strerror(errno));
        ok = 0;
    }
    if (ok && fsync(fd) != 0) {
        snprintf(ctx.message, sizeof ctx.message, "fsync: %s", strerror(errno));
        ok = 0;
    }
    if (fclose(ctx.fp) != 0 && ok) {
        snprintf(ctx.message, sizeof ctx.message, "close: %s", strerror(errno));
        ok = 0;
    }
    if (ok && rename(tmp, path) != 0) {
        snprintf(ctx.message, sizeof ctx.message, "rename: %s", strerror(errno));
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        return difu_errf(err, errlen, DIFU_ERR_IO, "png: cannot write %s: %s", path, ctx.message);
    }
    sync_parent(path);
    return DIFU_OK;
}

/* ---------------------------------------------------------------- public writers */

static difu_status check_image_args(const char *what, const char *path, const float *images,
                                    int n, int c, int h, int w, int scale, char *err,
                                    size_t errlen)
{
    if (!path || !images)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, "%s: path or images is NULL", what);
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "%s: %s: n %d, channels %d, %d x %d: need n >= 1, channels 1 or 3, "
                         "sides >= 1", what, path, n, c, h, w);
    if (scale < 1 || scale > MAX_SCALE)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, "%s: %s: scale %d not in [1, %d]",
                         what, path, scale, MAX_SCALE);
    return DIFU_OK;
}

/* Draws image [c, h, w] scaled into the interleaved canvas [ch, cw, c] at (top, left). */
static void blit(uint8_t *canvas, int cw, const float *img, int c, int h, int w, int scale,
                 int top, int left)
{
    for (int y = 0; y < h * scale; y++) {
        uint8_t *row = canvas + ((size_t)(top + y) * cw + left) * c;
        for (int x = 0; x < w * scale; x++)
            for (int k = 0; k < c; k++)
                row[(size_t)x * c + k] =
                    difu_pixel_to_u8(img[((size_t)k * h + y / scale) * w + x / scale]);
    }
}

difu_status difu_png_write_grid(const char *path, const float *images, int n, int c, int h, int w,
                                int cols, int scale, char *err, size_t errlen)
{
    difu_status st = check_image_args("png_write_grid", path, images, n, c, h, w, scale, err,
                                      errlen);
    if (st != DIFU_OK)
        return st;
    if (cols < 1)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, "png_write_grid: %s: cols %d < 1",
                         path, cols);
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t cw = (int64_t)cols * w * scale + (int64_t)(cols + 1) * GRID_BORDER;
    int64_t chh = (int64_t)rows * h * scale + (int64_t)(rows + 1) * GRID_BORDER;
    if (cw > MAX_CANVAS_SIDE || chh > MAX_CANVAS_SIDE || cw * chh * c > ((int64_t)1 << 32))
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "png_write_grid: %s: a %" PRId64 " x %" PRId64 " grid is too large",
                         path, cw, chh);
    uint8_t *canvas = malloc((size_t)(cw * chh * c));
    if (!canvas)
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                         "png_write_grid: %s: cannot allocate the canvas", path);
    memset(canvas, GRID_BORDER_VALUE, (size_t)(cw * chh * c));
    size_t per_image = (size_t)c * h * w;
    for (int i = 0; i < n; i++) {
        int top = GRID_BORDER + (i / cols) * (h * scale + GRID_BORDER);
        int left = GRID_BORDER + (i % cols) * (w * scale + GRID_BORDER);
        blit(canvas, (int)cw, images + i * per_image, c, h, w, scale, top, left);
    }
    st = difu_png_write_u8(path, canvas, (int)chh, (int)cw, c, err, errlen);
    free(canvas);
    return st;
}

difu_status difu_png_write_image(const char *path, const float *image, int c, int h, int w,
                                 int scale, char *err, size_t errlen)
{
    difu_status st = check_image_args("png_write_image", path, image, 1, c, h, w, scale, err,
                                      errlen);
    if (st != DIFU_OK)
        return st;
    int64_t cw = (int64_t)w * scale, chh = (int64_t)h * scale;
    if (cw > MAX_CANVAS_SIDE || chh > MAX_CANVAS_SIDE || cw * chh * c > ((int64_t)1 << 32))
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "png_write_image: %s: a %" PRId64 " x %" PRId64 " image is too large",
                         path, cw, chh);
    uint8_t *canvas = malloc((size_t)(cw * chh * c));
    if (!canvas)
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                         "png_write_image: %s: cannot allocate the image", path);
    blit(canvas, (int)cw, image, c, h, w, scale, 0, 0);
    st = difu_png_write_u8(path, canvas, (int)chh, (int)cw, c, err, errlen);
    free(canvas);
    return st;
}
