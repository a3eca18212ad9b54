/* test_plot.c: multi-series loss charts (difu_png_write_loss_plot_multi) read back as pixels:
 * size, a colour per series, the shared x axis, the legend, refused arguments; and `difu plot`
 * run as a user would on CSV files the test writes: success, malformed rows, missing columns,
 * bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "image_png.h"
#include "test_util.h"

/* The palette of engine/image_plot.c: the full colour of series i (smoothed curve, legend
 * swatch, or the raw values when smooth is 0) and the light one of its raw values. */
static const uint8_t STRONG[DIFU_PLOT_MAX_SERIES][3] = {
    {20, 60, 170}, {230, 110, 0}, {30, 140, 40}, {200, 30, 30},
    {120, 70, 180}, {130, 80, 50}, {220, 80, 170}, {0, 160, 180},
};
static const uint8_t LIGHT[DIFU_PLOT_MAX_SERIES][3] = {
    {150, 185, 230}, {245, 195, 150}, {160, 210, 165}, {235, 160, 160},
    {200, 180, 225}, {205, 180, 160}, {240, 185, 220}, {150, 215, 225},
};

typedef struct image {
    uint8_t *px;
    int h, w, c;
} image;

static image read_png(const char *path)
{
    image im = {0};
    char err[512] = "";
    cr_assert_eq(difu_png_read_u8(path, 8192, &im.px, &im.h, &im.w, &im.c, err, sizeof err),
                 DIFU_OK, "%s", err);
    cr_assert_eq(im.c, 3, "%s: %d channels, wanted RGB", path, im.c);
    return im;
}

/* Pixels of exactly colour rgb, and their column range [*x0, *x1] (-1 when none). */
static int count_colour(const image *im, const uint8_t rgb[3], int *x0, int *x1)
{
    int n = 0, lo = -1, hi = -1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
            if (p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2]) {
                n++;
                lo = lo < 0 || x < lo ? x : lo;
                hi = x > hi ? x : hi;
            }
        }
    if (x0)
        *x0 = lo;
    if (x1)
        *x1 = hi;
    return n;
}

Test(plot, eight_series_each_get_their_colour_and_a_legend_row)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "plot");
    char path[256];
    snprintf(path, sizeof path, "%s/multi.png", dir);
    enum { K = DIFU_PLOT_MAX_SERIES, N = 400 };
    static float y[K][N];
    static double x[K][N];
    difu_plot_series s[K];
    char labels[K][16];
    for (int k = 0; k < K; k++) {
        int64_t n = N - 30 * k;   /* different lengths and step spacings */
        for (int64_t i = 0; i < n; i++) {
            x[k][i] = 1.0 + (double)i * (1 + k % 3);
            y[k][i] = (float)((k + 1) * (0.05 + 1.0 / (1.0 + 0.02 * (double)i)) *
                              (1.0 + 0.1 * sin(0.7 * (double)i)));
        }
        snprintf(labels[k], sizeof labels[k], "run_%d", k);
        s[k] = (difu_plot_series){.label = labels[k], .x = x[k], .y = y[k], .n = n};
    }
    difu_plot_params p = difu_plot_params_default();
    p.width = 640;
    p.height = 400;
    char err[512] = "";
    cr_assert_eq(difu_png_write_loss_plot_multi(path, s, K, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    image im = read_png(path);
    cr_assert(im.w == 640 && im.h == 400, "%d x %d", im.w, im.h);
    for (int k = 0; k < K; k++) {
        int strong = count_colour(&im, STRONG[k], NULL, NULL);
        int light = count_colour(&im, LIGHT[k], NULL, NULL);
        cr_assert_gt(strong, 150, "series %d: %d pixels of its colour", k, strong);
        cr_assert_gt(light, 20, "series %d: %d pixels of its raw-value colour", k, light);
    }
    free(im.px);
    tu_rm_tree(dir);
}

Test(plot, series_share_the_x_axis_by_step)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "plot");
    char path[256];
    snprintf(path, sizeof path, "%s/x.png", dir);
    /* a: steps 0..100, b: steps 100..400 every 3rd; no labels, so no legend */
    enum { NA = 101, NB = 101 };
    double xa[NA], xb[NB];
    float ya[NA], yb[NB];
    for (int i = 0; i < NA; i++) {
        xa[i] = i;
        ya[i] = 1.0f + 0.01f * (float)i;
    }
    for (int i = 0; i < NB; i++) {
        xb[i] = 100 + 3 * i;
        yb[i] = 2.0f - 0.001f * (float)i;
    }
    difu_plot_series s[2] = {{.x = xa, .y = ya, .n = NA}, {.x = xb, .y = yb, .n = NB}};
    difu_plot_params p = difu_plot_params_default();
    p.smooth = 0.0f;   /* raw values only, in the full colours */
    p.log_y = 0;
    char err[512] = "";
    cr_assert_eq(difu_png_write_loss_plot_multi(path, s, 2, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    image im = read_png(path);
    cr_assert(im.w == 800 && im.h == 500);
    int a0, a1, b0, b1;
    cr_assert_gt(count_colour(&im, STRONG[0], &a0, &a1), 50);
    cr_assert_gt(count_colour(&im, STRONG[1], &b0, &b1), 50);
    cr_assert_eq(count_colour(&im, LIGHT[0], NULL, NULL), 0, "smooth 0 draws no light shade");
    /* a spans the first quarter of the x range, b the rest */
    cr_assert(abs(a1 - b0) <= 2, "a ends at x %d, b starts at %d", a1, b0);
    double quarter = (double)(b1 - a0) / 4.0;
    cr_assert(fabs((a1 - a0) - quarter) <= 3, "a spans %d px, a quarter of %d", a1 - a0, b1 - a0);
    free(im.px);
    tu_rm_tree(dir);
}

Test(plot, a_labelled_series_is_in_the_legend_even_with_nothing_to_draw)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "plot");
    char path[256];
    snprintf(path, sizeof path, "%s/legend.png", dir);
    float y[4] = {1.0f, 0.5f, 0.4f, 0.3f}, none[4] = {NAN, NAN, -1.0f, INFINITY};
    difu_plot_series s[2] = {{.label = "difu", .y = y, .n = 4},
                             {.label = "PyTorch ref (a:b)", .y = none, .n = 4}};
    difu_plot_params p = difu_plot_params_default();
    char err[512] = "";
    cr_assert_eq(difu_png_write_loss_plot_multi(path, s, 2, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    image im = read_png(path);
    int x0, x1;
    int n = count_colour(&im, STRONG[1], &x0, &x1);
    cr_assert(n > 0 && x1 - x0 < 40, "swatch: %d pixels over x %d..%d", n, x0, x1);
    free(im.px);
    /* without a label it has no legend row, and nothing else of its colour is drawn */
    s[1].label = NULL;
    cr_assert_eq(difu_png_write_loss_plot_multi(path, s, 2, &p, err, sizeof err), DIFU_OK, "%s",
                 err);
    im = read_png(path);
    cr_assert_eq(count_colour(&im, STRONG[1], NULL, NULL), 0);
    cr_assert_gt(count_colour(&im, STRONG[0], NULL, NULL), 0);
    free(im.px);
    tu_rm_tree(dir);
}

Test(plot, bad_arguments_are_refused_with_a_message)
{
    float y[4] = {1, 2, 3, 4};
    double x[4] = {1, 2, 2, 3}, xnan[2] = {1, NAN};
    difu_plot_series s = {.label = "mine", .y = y, .n = 4};
    difu_plot_series many[DIFU_PLOT_MAX_SERIES + 1];
    for (int k = 0; k <= DIFU_PLOT_MAX_SERIES; k++)
        many[k] = s;
    difu_plot_params p = difu_plot_params_default();
    char err[512] = "";
    const char *out = "/tmp/difu-plot-never.png";
    cr_assert_eq(difu_png_write_loss_plot_multi(NULL, &s, 1, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "NULL"), "%s", err);
    cr_assert_eq(difu_png_write_loss_plot_multi(out, NULL, 1, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_png_write_loss_plot_multi(out, &s, 1, NULL, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_png_write_loss_plot_multi(out, many, 0, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "0 series (need 1..8)"), "%s", err);
    cr_assert_eq(difu_png_write_loss_plot_multi(out, many, 9, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "9 series (need 1..8)"), "%s", err);
    many[3].n = 0;
    cr_assert_eq(difu_png_write_loss_plot_multi(out, many, 4, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "series 3 (mine)") && strstr(err, "n 0"), "%s", err);
    many[3] = s;
    many[2].y = NULL;
    many[2].label = NULL;
    cr_assert_eq(difu_png_write_loss_plot_multi(out, many, 4, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "series 2 (unlabelled)") && strstr(err, "y NULL"), "%s", err);
    s.x = x;
    cr_assert_eq(difu_png_write_loss_plot_multi(out, &s, 1, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "x[2] = 2 is not greater than x[1] = 2"), "%s", err);
    s.x = xnan;
    s.n = 2;
    cr_assert_eq(difu_png_write_loss_plot_multi(out, &s, 1, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "x[1] = nan is not finite"), "%s", err);
    s.x = NULL;
    p.height = 100;
    cr_assert_eq(difu_png_write_loss_plot_multi(out, &s, 1, &p, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "800 x 100"), "%s", err);
    cr_assert_eq(access(out, F_OK), -1, "nothing is written on a refused call");
}

/* ---------------------------------------------------------------- difu plot */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* A difu-style loss.csv in DIR/run (steps 1..60) and a PyTorch-style DIR/ref.csv with only step
 * and loss, every other step, a blank line, CRLF endings, an empty cell and a nan. */
static void write_runs(const char *dir, char *run_csv, char *ref_csv, size_t len)
{
    char text[8192];
    size_t at = 0;
    snprintf(run_csv, len, "%s/run", dir);
    cr_assert_eq(mkdir(run_csv, 0755), 0);
    snprintf(run_csv, len, "%s/run/loss.csv", dir);
    at += (size_t)snprintf(text + at, sizeof text - at, "step,loss,lr,grad_norm,img_per_s\n");
    for (int s = 1; s <= 60; s++)
        at += (size_t)snprintf(text + at, sizeof text - at, "%d,%.7g,0.0002,%.6g,123.45\n", s,
                               0.05 + 1.0 / (1.0 + 0.1 * s), 0.5 + 0.01 * s);
    write_file(run_csv, text);
    snprintf(ref_csv, len, "%s/ref.csv", dir);
    at = (size_t)snprintf(text, sizeof text, "step,loss\r\n");
    for (int s = 1; s <= 80; s += 2)
        at += (size_t)snprintf(text + at, sizeof text - at, "%d,%.7g\r\n", s,
                               0.06 + 0.9 / (1.0 + 0.08 * s));
    snprintf(text + at, sizeof text - at, "\r\n81,\r\n83,nan\r\n85,0.1\r\n");
    write_file(ref_csv, text);
}

Test(plot_cli, two_runs_on_one_chart)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "plot");
    char run_csv[256], ref_csv[256], ref_arg[300], out[256], want[400];
    write_runs(dir, run_csv, ref_csv, sizeof run_csv);
    snprintf(ref_arg, sizeof ref_arg, "%s:pytorch", ref_csv);
    snprintf(out, sizeof out, "%s/cmp.png", dir);
    tu_run_result *r = tu_run_difu("plot", "--csv", run_csv, "--csv", ref_arg, "--out", out,
                                   "--width", "400", "--height", "300", NULL);
    /* 60 + 40 + "83,nan" + "85,0.1" points; the empty cell of step 81 is skipped */
    snprintf(want, sizeof want, "wrote %s (2 series, 102 points)\n", out);
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    cr_assert_str_eq(r->out, want);
    free(r);
    image im = read_png(out);
    cr_assert(im.w == 400 && im.h == 300, "%d x %d", im.w, im.h);
    cr_assert_gt(count_colour(&im, STRONG[0], NULL, NULL), 50);
    cr_assert_gt(count_colour(&im, STRONG[1], NULL, NULL), 50);
    cr_assert_eq(count_colour(&im, STRONG[2], NULL, NULL), 0);
    free(im.px);

    /* another column, a linear axis, raw values only, default size */
    r = tu_run_difu("plot", "--csv", run_csv, "--out", out, "--column", "grad_norm", "--linear",
                    "--smooth", "0", NULL);
    snprintf(want, sizeof want, "wrote %s (1 series, 60 points)\n", out);
    cr_assert_eq(r->status, 0, "exit %d: %s", r->status, r->err);
    cr_assert_str_eq(r->out, want);
    free(r);
    im = read_png(out);
    cr_assert(im.w == 800 && im.h == 500);
    cr_assert_gt(count_colour(&im, STRONG[0], NULL, NULL), 50);
    cr_assert_eq(count_colour(&im, LIGHT[0], NULL, NULL), 0);
    free(im.px);

    /* a file whose name holds ':' is taken whole when it exists */
    char colon[300];
    snprintf(colon, sizeof colon, "%s/a:b.csv", dir);
    write_file(colon, "step,loss\n1,1\n2,0.5\n");
    tu_expect_exit(tu_run_difu("plot", "--csv", colon, "--out", out, NULL), 0, NULL,
                   "file name with a colon");
    tu_rm_tree(dir);
}

Test(plot_cli, bad_rows_and_missing_columns_name_the_file_and_line)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "plot");
    char run_csv[256], ref_csv[256], bad[256], out[256], msg[400];
    write_runs(dir, run_csv, ref_csv, sizeof run_csv);
    snprintf(out, sizeof out, "%s/bad.png", dir);

    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    write_file(bad, "step,loss,lr\n1,0.5,1e-4\n2,0.4,1e-4\n3,abc,1e-4\n4,0.3,1e-4\n");
    snprintf(msg, sizeof msg, "%s, line 4: loss 'abc' is not a number", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", run_csv, "--csv", bad, "--out", out, NULL), 1, msg,
                   "bad value");

    write_file(bad, "step,loss,lr\n1,0.5,1e-4\n\n2\n");
    snprintf(msg, sizeof msg, "%s, line 4: 1 field, but column 'loss' is field 2", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg, "short row");

    write_file(bad, "step,loss\n1,0.5\nx1,0.4\n");
    snprintf(msg, sizeof msg, "%s, line 3: step 'x1' is not a finite number", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg, "bad step");

    write_file(bad, "step,loss\n1,0.5\n3,0.4\n2,0.3\n");
    snprintf(msg, sizeof msg, "%s, line 4: step 2 comes after step 3", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg,
                   "steps going back");

    write_file(bad, "");
    snprintf(msg, sizeof msg, "%s: empty file", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg, "empty file");

    write_file(bad, "step,loss\n");
    snprintf(msg, sizeof msg, "%s: no data rows", bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg, "header only");

    snprintf(msg, sizeof msg,
             "%s: no column 'val_loss' in the header line (its columns: step, loss, lr, "
             "grad_norm, img_per_s)", run_csv);
    tu_expect_exit(
        tu_run_difu("plot", "--csv", run_csv, "--column", "val_loss", "--out", out, NULL), 1, msg,
        "missing column");
    write_file(bad, "iter,loss\n1,0.5\n");
    snprintf(msg, sizeof msg, "%s: no column 'step' in the header line (its columns: iter, loss)",
             bad);
    tu_expect_exit(tu_run_difu("plot", "--csv", bad, "--out", out, NULL), 1, msg,
                   "missing step column");

    snprintf(msg, sizeof msg, "%s/missing.csv", dir);
    tu_expect_exit(tu_run_difu("plot", "--csv", msg, "--out", out, NULL), 1, "cannot open",
                   "missing file");
    cr_assert_eq(access(out, F_OK), -1, "no chart is written after an error");

    snprintf(msg, sizeof msg, "%s/no-such-folder/x.png", dir);
    tu_expect_exit(tu_run_difu("plot", "--csv", run_csv, "--out", msg, NULL), 1, msg,
                   "unwritable output");
    tu_rm_tree(dir);
}

Test(plot_cli, bad_usage_exits_2)
{
    tu_expect_exit(tu_run_difu("plot", "--help", NULL), 0, NULL, "--help");
    tu_expect_exit(tu_run_difu("plot", "--out", "/tmp/x.png", NULL), 2,
                   "--csv FILE and --out FILE.png are required", "no --csv");
    tu_expect_exit(tu_run_difu("plot", "--csv", "a.csv", NULL), 2, "are required", "no --out");
    tu_expect_exit(tu_run_difu("plot", "--csv", "a.csv", "--out", "x.png", "--smooth", "1", NULL),
                   2, "[0, 1)", "--smooth 1");
    tu_expect_exit(tu_run_difu("plot", "--csv", "a.csv", "--out", "x.png", "--width", "10", NULL),
                   2, "--width", "--width 10");
    tu_expect_exit(tu_run_difu("plot", "--csv", "a.csv", "--out", "x.png", "--bogus", NULL), 2,
                   "unknown option '--bogus'", "unknown option");
    tu_expect_exit(tu_run_difu("plot", "--csv", NULL), 2, "--csv needs a value",
                   "--csv without a value");
    tu_expect_exit(tu_run_difu("plot", "--csv", "1", "--csv", "2", "--csv", "3", "--csv", "4",
                               "--csv", "5", "--csv", "6", "--csv", "7", "--csv", "8", "--csv", "9",
                               "--out", "x.png", NULL),
                   2, "at most 8 --csv files", "nine files");
}
