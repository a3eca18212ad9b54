/* test_png.c: the PNG writers (grid, single image, loss plot) read back with libpng; the reader
 * used by folder datasets; atomic replacement and write errors (missing folder, full disk). */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <png.h>

#include "difu.h"
#include "image_png.h"
#include "test_util.h"

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    cr_assert_not_null(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dp);
    return n;
}

/* A PNG read back with libpng's simplified API, in its own format (gray or RGB, 8-bit). */
typedef struct readback {
    int w, h, c;
    png_bytep px;
} readback;

static readback read_back(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&img, path), "libpng cannot open %s: %s", path,
              img.message);
    readback r = {(int)img.width, (int)img.height, 0, NULL};
    cr_assert(img.format == PNG_FORMAT_GRAY || img.format == PNG_FORMAT_RGB,
              "unexpected format 0x%x", img.format);
    r.c = img.format == PNG_FORMAT_GRAY ? 1 : 3;
    r.px = malloc(PNG_IMAGE_SIZE(img));
    cr_assert(png_image_finish_read(&img, NULL, r.px, 0, NULL), "libpng: %s", img.message);
    return r;
}

static int at(const readback *r, int y, int x, int k)
{
    return r->px[((size_t)y * r->w + x) * r->c + k];
}

static int expected_u8(float v)
{
    if (!(v >= -1.0f))
        return 0;
    if (v >= 1.0f)
        return 255;
    return (int)lround((v + 1.0) * 127.5);
}

Test(png, gray_grid_has_the_right_size_border_and_pixels)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    enum { N = 5, H = 3, W = 2, COLS = 2, S = 2 };
    float img[N * H * W];
    for (int i = 0; i < N * H * W; i++)
        img[i] = -1.0f + 2.0f * (float)i / (N * H * W - 1);
    char err[512] = "";
    cr_assert_eq(difu_png_write_grid(path, img, N, 1, H, W, COLS, S, err, sizeof err), DIFU_OK,
                 "%s", err);
    readback r = read_back(path);
    int rows = 3;
    cr_assert_eq(r.w, COLS * W * S + (COLS + 1) * 2);
    cr_assert_eq(r.h, rows * H * S + (rows + 1) * 2);
    cr_assert_eq(r.c, 1);
    for (int i = 0; i < N; i++) {
        int top = 2 + (i / COLS) * (H * S + 2), left = 2 + (i % COLS) * (W * S + 2);
        for (int y = 0; y < H * S; y++)
            for (int x = 0; x < W * S; x++)
                cr_assert_eq(at(&r, top + y, left + x, 0),
                             expected_u8(img[(i * H + y / S) * W + x / S]),
                             "image %d (%d,%d)", i, y, x);
        cr_assert_eq(at(&r, top - 1, left, 0), 128, "border above image %d", i);
        cr_assert_eq(at(&r, top, left - 2, 0), 128, "border left of image %d", i);
    }
    /* the missing 6th cell is border colour */
    cr_assert_eq(at(&r, 2 + 2 * (H * S + 2) + 1, 2 + (W * S + 2) + 1, 0), 128);
    free(r.px);
    tu_rm_tree(dir);
}

Test(png, rgb_grid_clamps_and_keeps_channels)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    float img[2 * 3 * 1 * 2] = {
        /* image 0: R plane, G plane, B plane (1 x 2 each) */
        -5.0f, 1.0f, 0.0f, 0.5f, 7.0f, NAN,
        /* image 1 */
        -1.0f, -0.5f, 0.25f, 0.99f, -0.99f, 1.0f,
    };
    char err[512] = "";
    cr_assert_eq(difu_png_write_grid(path, img, 2, 3, 1, 2, 4, 1, err, sizeof err), DIFU_OK,
                 "%s", err);
    readback r = read_back(path);
    cr_assert(r.c == 3 && r.w == 2 * 2 + 3 * 2 && r.h == 1 + 2 * 2, "%d x %d x %d", r.w, r.h,
              r.c);   /* cols clipped to n */
    for (int i = 0; i < 2; i++)
        for (int x = 0; x < 2; x++)
            for (int k = 0; k < 3; k++)
                cr_assert_eq(at(&r, 2, 2 + i * 4 + x, k), expected_u8(img[i * 6 + k * 2 + x]),
                             "image %d x %d channel %d", i, x, k);
    cr_assert_eq(at(&r, 2, 2, 0), 0);     /* -5 clamps to 0 */
    cr_assert_eq(at(&r, 2, 2, 2), 255);   /* 7 clamps to 255 */
    cr_assert_eq(at(&r, 2, 3, 2), 0);     /* NaN */
    free(r.px);
    tu_rm_tree(dir);
}

Test(png, single_image_is_upscaled_without_border)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/one.png", dir);
    float img[2 * 3] = {-1.0f, 0.0f, 1.0f, 0.5f, -0.5f, 0.25f};
    char err[512] = "";
    cr_assert_eq(difu_png_write_image(path, img, 1, 2, 3, 3, err, sizeof err), DIFU_OK, "%s",
                 err);
    readback r = read_back(path);
    cr_assert(r.w == 9 && r.h == 6 && r.c == 1);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 9; x++)
            cr_assert_eq(at(&r, y, x, 0), expected_u8(img[(y / 3) * 3 + x / 3]));
    free(r.px);
    tu_rm_tree(dir);
}

Test(png, reader_round_trips_what_the_writer_wrote)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.png", dir);
    uint8_t px[4 * 5 * 3];
    for (int i = 0; i < 60; i++)
        px[i] = (uint8_t)(i * 17 + 3);
    char err[512] = "";
    cr_assert_eq(difu_png_write_u8(path, px, 4, 5, 3, err, sizeof err), DIFU_OK, "%s", err);
    uint8_t *back = NULL;
    int h, w, c;
    cr_assert_eq(difu_png_read_u8(path, 100, &back, &h, &w, &c, err, sizeof err), DIFU_OK, "%s",
                 err);
    cr_assert(h == 4 && w == 5 && c == 3);
    cr_assert_eq(memcmp(px, back, sizeof px), 0);
    free(back);
    /* a side above the reader's limit is refused, naming the file */
    cr_assert_eq(difu_png_read_u8(path, 3, &back, &h, &w, &c, err, sizeof err), DIFU_ERR_FORMAT);
    cr_assert(strstr(err, path), "%s", err);
    tu_rm_tree(dir);
}

Test(png, writing_replaces_atomically_and_leaves_no_temporaries)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/img.png", dir);
    float a[4] = {1, 1, 1, 1}, b[9] = {0};
    char err[512] = "";
    cr_assert_eq(difu_png_write_image(path, a, 1, 2, 2, 1, err, sizeof err), DIFU_OK);
    cr_assert_eq(difu_png_write_image(path, b, 1, 3, 3, 1, err, sizeof err), DIFU_OK);
    readback r = read_back(path);
    cr_assert(r.w == 3 && r.h == 3 && at(&r, 1, 1, 0) == 128);
    cr_assert_eq(count_entries(dir), 1, "temporary files left behind");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    free(r.px);
    tu_rm_tree(dir);
}

Test(png, unwritable_folder_is_an_io_error_naming_the_path)
{
    float a[4] = {0};
    char err[512] = "";
    const char *path = "/nonexistent/difu-folder/grid.png";
    cr_assert_eq(difu_png_write_grid(path, a, 1, 1, 2, 2, 1, 1, err, sizeof err), DIFU_ERR_IO);
    cr_assert(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    difu_plot_params p = difu_plot_params_default();
    cr_assert_eq(difu_png_write_loss_plot(path, a, 4, &p, err, sizeof err), DIFU_ERR_IO);
    cr_assert(strstr(err, path), "%s", err);
}

Test(png, full_disk_is_an_io_error_and_keeps_the_old_file)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/big.png", dir);
    float small[4] = {0};
    char err[512] = "";
    cr_assert_eq(difu_png_write_image(path, small, 1, 2, 2, 1, err, sizeof err), DIFU_OK);
    struct stat before;
    cr_assert_eq(stat(path, &before), 0);
    /* a file-size limit makes writes fail with EFBIG, as a full disk fails them with ENOSPC */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, 4096};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum { S = 256 };
    float *noise = malloc(3 * S * S * sizeof(float));
    for (int i = 0; i < 3 * S * S; i++)
        noise[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;   /* incompressible-ish */
    difu_status st = difu_png_write_image(path, noise, 3, S, S, 1, err, sizeof err);
    cr_assert_eq(st, DIFU_ERR_IO, "status %s", difu_status_name(st));
    cr_assert(strstr(err, path), "%s", err);
    struct stat after;
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(after.st_size, before.st_size, "the old file was touched");
    cr_assert_eq(count_entries(dir), 1, "temporary files left behind");
    free(noise);
    tu_rm_tree(dir);
}

Test(png, bad_arguments_are_refused_with_values)
{
    float a[16] = {0};
    char err[512] = "";
    cr_assert_eq(difu_png_write_grid("/tmp/x.png", a, 1, 2, 2, 2, 1, 1, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "png_write_grid") && strstr(err, "channels 2"), "%s", err);
    cr_assert_eq(difu_png_write_grid("/tmp/x.png", a, 1, 1, 2, 2, 0, 1, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "cols 0"), "%s", err);
    cr_assert_eq(difu_png_write_grid("/tmp/x.png", a, 1, 1, 2, 2, 1, 0, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "scale 0"), "%s", err);
    cr_assert_eq(difu_png_write_grid("/tmp/x.png", a, 0, 1, 2, 2, 1, 1, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_png_write_image(NULL, a, 1, 2, 2, 1, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_png_write_grid("/tmp/x.png", a, 1000000, 1, 1000, 1000, 1000, 1, err,
                                     sizeof err), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "too large"), "%s", err);
    difu_plot_params p = difu_plot_params_default();
    p.width = 10;
    cr_assert_eq(difu_png_write_loss_plot("/tmp/x.png", a, 4, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "10 x 500"), "%s", err);
    p = difu_plot_params_default();
    p.smooth = 1.0f;
    cr_assert_eq(difu_png_write_loss_plot("/tmp/x.png", a, 4, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    p = difu_plot_params_default();
    cr_assert_eq(difu_png_write_loss_plot("/tmp/x.png", a, 0, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
}

/* Counts pixels of each kind in an RGB readback. */
static void count_colours(const readback *r, int *white, int *black, int *blue)
{
    *white = *black = *blue = 0;
    for (int y = 0; y < r->h; y++)
        for (int x = 0; x < r->w; x++) {
            int R = at(r, y, x, 0), G = at(r, y, x, 1), B = at(r, y, x, 2);
            *white += R == 255 && G == 255 && B == 255;
            *black += R == 0 && G == 0 && B == 0;
            *blue += B > R + 60;
        }
}

Test(png, loss_plot_writes_an_rgb_png_of_the_asked_size)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "png");
    char path[4096];
    snprintf(path, sizeof path, "%s/loss.png", dir);
    enum { N = 2000 };
    float *loss = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        loss[i] = 0.03f + 1.0f / (1.0f + 0.01f * i) + 0.01f * (float)((i * 37) % 11);
    loss[100] = NAN;
    loss[200] = INFINITY;
    char err[512] = "";
    difu_plot_params p = difu_plot_params_default();
    p.width = 640;
    p.height = 400;
    cr_assert_eq(difu_png_write_loss_plot(path, loss, N, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    readback r = read_back(path);
    cr_assert(r.w == 640 && r.h == 400 && r.c == 3, "%d x %d x %d", r.w, r.h, r.c);
    int white, black, blue;
    count_colours(&r, &white, &black, &blue);
    cr_assert_gt(white, r.w * r.h / 2, "mostly background");
    cr_assert_gt(black, 400, "axes and labels drawn");
    cr_assert_gt(blue, 500, "the series is drawn");
    /* the curve falls: blue pixels on the left are higher (smaller y) than on the right */
    double yl = 0, yr = 0;
    int nl = 0, nr = 0;
    for (int y = 0; y < r.h; y++)
        for (int x = 0; x < r.w; x++)
            if (at(&r, y, x, 2) > at(&r, y, x, 0) + 60) {
                if (x < r.w / 4) {
                    yl += y;
                    nl++;
                } else if (x > 3 * r.w / 4) {
                    yr += y;
                    nr++;
                }
            }
    cr_assert(nl > 0 && nr > 0 && yl / nl < yr / nr, "left %g right %g", yl / nl, yr / nr);
    free(r.px);

    /* linear axis, no smoothing, negative values, a small image */
    for (int i = 0; i < N; i++)
        loss[i] = sinf(i * 0.01f);
    p.log_y = 0;
    p.smooth = 0.0f;
    p.width = 160;
    p.height = 120;
    cr_assert_eq(difu_png_write_loss_plot(path, loss, N, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    r = read_back(path);
    cr_assert(r.w == 160 && r.h == 120);
    free(r.px);

    /* log axis with nothing positive, a single value, all NaN: still a valid chart */
    p = difu_plot_params_default();
    cr_assert_eq(difu_png_write_loss_plot(path, loss + N / 2 + 400, 1, &p, err, sizeof err),
                 DIFU_OK, "%s", err);
    float nan4[4] = {NAN, NAN, NAN, NAN};
    cr_assert_eq(difu_png_write_loss_plot(path, nan4, 4, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    r = read_back(path);
    cr_assert(r.w == 800 && r.h == 500);
    free(r.px);
    cr_assert_eq(count_entries(dir), 1);
    free(loss);
    tu_rm_tree(dir);
}
