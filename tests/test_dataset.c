/* test_dataset.c: dataset loading (IDX raw and gzip, CIFAR-10, PNG folders), scaling, shuffling,
 * flip, resumable positions, and every malformed-input error. Fixtures are small files written
 * into a fresh temporary folder by each test. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <png.h>

#include "difu.h"
#include "test_util.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---------------------------------------------------------------- fixtures */

/* Pixel (i, y, x) of the IDX fixtures: image index in the first pixel, a pattern elsewhere. */
static uint8_t idx_pixel(int i, int y, int x, int w)
{
    return (y == 0 && x == 0) ? (uint8_t)i : (uint8_t)((i * 37 + y * w * 11 + x * 7 + 3) & 0xff);
}

static uint8_t idx_label(int i)
{
    return (uint8_t)((i * 3 + 1) % 10);
}

static difu_dataset *open_ok(const char *spec, const difu_dataset_params *p)
{
    difu_dataset *d = NULL;
    char err[512] = "";
    difu_status st = difu_dataset_open(spec, p, &d, err, sizeof err);
    cr_assert_eq(st, DIFU_OK, "open %s: %s", spec, err);
    cr_assert_not_null(d);
    return d;
}

/* Opens spec expecting failure with status want; checks the message contains each of the
 * NULL-terminated words. */
static void open_fails(const char *spec, const difu_dataset_params *p, difu_status want, ...)
{
    difu_dataset *d = (difu_dataset *)1;
    char err[512] = "";
    difu_status st = difu_dataset_open(spec, p, &d, err, sizeof err);
    cr_assert_eq(st, want, "open %s: status %s, expected %s; message: %s", spec,
                 difu_status_name(st), difu_status_name(want), err);
    cr_assert_null(d);
    va_list ap;
    va_start(ap, want);
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        cr_assert(strstr(err, w), "message for %s lacks \"%s\": %s", spec, w, err);
    va_end(ap);
}

static difu_dataset_params params(int shuffle)
{
    difu_dataset_params p = difu_dataset_params_default();
    p.shuffle = shuffle;
    p.seed = 1234;
    return p;
}

static char *spec_of(const char *kind, const char *dir)
{
    static char spec[4096];
    snprintf(spec, sizeof spec, "%s:%s", kind, dir);
    return spec;
}

/* ---------------------------------------------------------------- IDX values */

static void check_idx_values(int gzip)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    int n = 7, h = 5, w = 4;   /* non-square, kept as is with size 0 */
    tu_write_idx(dir, n, h, w, gzip, idx_pixel, idx_label);
    difu_dataset_params p = params(0);
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    difu_dataset_info in = difu_dataset_get_info(d);
    cr_assert_eq(in.count, n);
    cr_assert_eq(in.channels, 1);
    cr_assert_eq(in.height, h);
    cr_assert_eq(in.width, w);
    cr_assert_eq(in.classes, 10);
    float x[7 * 5 * 4];
    int64_t lab[7];
    cr_assert_eq(difu_dataset_next_batch(d, n, x, lab), DIFU_OK);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(lab[i], idx_label(i), "label %d", i);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float want = idx_pixel(i, y, xx, w) / 127.5f - 1.0f;
                cr_assert_float_eq(x[(i * h + y) * w + xx], want, 1e-6, "image %d (%d,%d)", i, y,
                                   xx);
            }
    }
    difu_dataset_pos pos = difu_dataset_get_pos(d);
    cr_assert_eq(pos.epoch, 1);
    cr_assert_eq(pos.index, 0);
    float one[20];
    int64_t l;
    cr_assert_eq(difu_dataset_get(d, 3, one, &l), DIFU_OK);
    cr_assert_eq(l, idx_label(3));
    cr_assert_eq(memcmp(one, x + 3 * 20, sizeof one), 0);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, idx_raw_values_labels_and_scaling)
{
    check_idx_values(0);
}

Test(dataset, idx_gzip_values_labels_and_scaling)
{
    check_idx_values(1);
}

Test(dataset, scaling_hits_minus_one_and_one_exactly)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    unsigned char img[16 + 2], lab[8 + 1];
    tu_put_be32(img, 0x803);
    tu_put_be32(img + 4, 1);
    tu_put_be32(img + 8, 1);
    tu_put_be32(img + 12, 2);
    img[16] = 0;
    img[17] = 255;
    tu_put_be32(lab, 0x801);
    tu_put_be32(lab + 4, 1);
    lab[8] = 9;
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    tu_write_bytes(path, img, sizeof img, 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    tu_write_bytes(path, lab, sizeof lab, 1);   /* mixed raw + gzip */
    difu_dataset_params p = params(0);
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    float x[2];
    int64_t l;
    cr_assert_eq(difu_dataset_next_batch(d, 1, x, &l), DIFU_OK);
    cr_assert_eq(x[0], -1.0f);
    cr_assert_eq(x[1], 1.0f);
    cr_assert_eq(l, 9);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, resize_and_channel_conversion_of_idx)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 3, 4, 4, 0, idx_pixel, idx_label);
    difu_dataset_params p = params(0);
    p.size = 2;
    p.channels = 3;
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    difu_dataset_info in = difu_dataset_get_info(d);
    cr_assert(in.channels == 3 && in.height == 2 && in.width == 2);
    float x[3 * 2 * 2];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(difu_dataset_get(d, i, x, NULL), DIFU_OK);
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                /* 4 -> 2 is the mean of a 2 x 2 block, rounded to u8 */
                double sum = 0;
                for (int y = 0; y < 2; y++)
                    for (int xx = 0; xx < 2; xx++)
                        sum += idx_pixel(i, 2 * oy + y, 2 * ox + xx, 4);
                float want = (float)(int)(sum / 4 + 0.5) / 127.5f - 1.0f;
                for (int k = 0; k < 3; k++)
                    cr_assert_float_eq(x[(k * 2 + oy) * 2 + ox], want, 1e-6,
                                       "image %d channel %d (%d,%d)", i, k, oy, ox);
            }
    }
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, limit_keeps_the_first_images)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 20, 3, 3, 1, idx_pixel, idx_label);
    difu_dataset_params p = params(1);
    p.limit = 6;
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    cr_assert_eq(difu_dataset_get_info(d).count, 6);
    float x[6 * 9];
    cr_assert_eq(difu_dataset_next_batch(d, 6, x, NULL), DIFU_OK);
    int seen[6] = {0};
    for (int i = 0; i < 6; i++) {
        int idx = (int)lroundf((x[i * 9] + 1.0f) * 127.5f);
        cr_assert(idx >= 0 && idx < 6, "image %d not among the first 6", idx);
        seen[idx]++;
    }
    for (int i = 0; i < 6; i++)
        cr_assert_eq(seen[i], 1);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- order, flip, resume */

/* The image index of each of `count` draws (first pixel holds the index). */
static void draw_indices(difu_dataset *d, int count, int batch, int *out, int64_t *labels)
{
    difu_dataset_info in = difu_dataset_get_info(d);
    size_t per = (size_t)in.channels * in.height * in.width;
    float *x = malloc(per * batch * sizeof *x);
    int64_t *lab = malloc(batch * sizeof *lab);
    for (int at = 0; at < count; at += batch) {
        cr_assert_eq(difu_dataset_next_batch(d, batch, x, lab), DIFU_OK);
        for (int b = 0; b < batch && at + b < count; b++) {
            out[at + b] = (int)lroundf((x[b * per] + 1.0f) * 127.5f);
            if (labels)
                labels[at + b] = lab[b];
        }
    }
    free(x);
    free(lab);
}

Test(dataset, shuffle_is_a_permutation_fixed_by_seed_and_epoch)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    enum { N = 100, EPOCHS = 3 };
    tu_write_idx(dir, N, 3, 3, 0, idx_pixel, idx_label);
    difu_dataset_params p = params(1);
    difu_dataset *a = open_ok(spec_of("idx", dir), &p);
    difu_dataset *b = open_ok(spec_of("idx", dir), &p);
    int ia[N * EPOCHS], ib[N * EPOCHS];
    int64_t la[N * EPOCHS];
    draw_indices(a, N * EPOCHS, 10, ia, la);
    draw_indices(b, N * EPOCHS, 25, ib, NULL);   /* batch size does not change the order */
    cr_assert_eq(memcmp(ia, ib, sizeof ia), 0, "same seed, different order");
    for (int e = 0; e < EPOCHS; e++) {
        int seen[N] = {0}, in_order = 0;
        for (int i = 0; i < N; i++) {
            int idx = ia[e * N + i];
            cr_assert(idx >= 0 && idx < N);
            seen[idx]++;
            in_order += idx == i;
            cr_assert_eq(la[e * N + i], idx_label(idx), "label follows its image");
        }
        for (int i = 0; i < N; i++)
            cr_assert_eq(seen[i], 1, "epoch %d: image %d seen %d times", e, i, seen[i]);
        cr_assert_lt(in_order, N / 2, "epoch %d looks unshuffled", e);
    }
    cr_assert_neq(memcmp(ia, ia + N, N * sizeof(int)), 0, "epochs 0 and 1 have the same order");
    cr_assert_neq(memcmp(ia + N, ia + 2 * N, N * sizeof(int)), 0, "epochs 1 and 2 match");
    difu_dataset_close(b);
    p.seed = 99;
    b = open_ok(spec_of("idx", dir), &p);
    draw_indices(b, N, 10, ib, NULL);
    cr_assert_neq(memcmp(ia, ib, N * sizeof(int)), 0, "seeds 1234 and 99 give the same order");
    difu_dataset_close(a);
    difu_dataset_close(b);
    tu_rm_tree(dir);
}

Test(dataset, no_shuffle_gives_file_order_across_epochs)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 10, 2, 2, 0, idx_pixel, idx_label);
    difu_dataset_params p = params(0);
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    int idx[24];
    draw_indices(d, 24, 4, idx, NULL);   /* batches span epoch ends */
    for (int i = 0; i < 24; i++)
        cr_assert_eq(idx[i], i % 10, "draw %d", i);
    difu_dataset_pos pos = difu_dataset_get_pos(d);
    cr_assert(pos.epoch == 2 && pos.index == 4, "pos (%llu, %lld)",
              (unsigned long long)pos.epoch, (long long)pos.index);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, resume_from_position_sees_the_same_batches)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    enum { N = 37, B = 8, STEPS = 12, STOP = 5 };
    tu_write_idx(dir, N, 4, 6, 1, idx_pixel, idx_label);
    difu_dataset_params p = params(1);
    p.flip = 1;
    size_t per = 24;
    float *straight = malloc(STEPS * B * per * sizeof(float));
    float *resumed = malloc(STEPS * B * per * sizeof(float));
    int64_t ls[STEPS * B], lr[STEPS * B];
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    for (int s = 0; s < STEPS; s++)
        cr_assert_eq(difu_dataset_next_batch(d, B, straight + s * B * per, ls + s * B), DIFU_OK);
    difu_dataset_close(d);

    d = open_ok(spec_of("idx", dir), &p);
    for (int s = 0; s < STOP; s++)
        cr_assert_eq(difu_dataset_next_batch(d, B, resumed + s * B * per, lr + s * B), DIFU_OK);
    difu_dataset_pos pos = difu_dataset_get_pos(d);
    difu_dataset_close(d);
    d = open_ok(spec_of("idx", dir), &p);
    cr_assert_eq(difu_dataset_set_pos(d, pos), DIFU_OK);
    for (int s = STOP; s < STEPS; s++)
        cr_assert_eq(difu_dataset_next_batch(d, B, resumed + s * B * per, lr + s * B), DIFU_OK);
    cr_assert_eq(memcmp(straight, resumed, STEPS * B * per * sizeof(float)), 0);
    cr_assert_eq(memcmp(ls, lr, sizeof ls), 0);

    pos.index = N;
    cr_assert_eq(difu_dataset_set_pos(d, pos), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_dataset_last_error(d), "37"), "%s", difu_dataset_last_error(d));
    pos.index = -1;
    cr_assert_eq(difu_dataset_set_pos(d, pos), DIFU_ERR_INVALID_ARG);
    difu_dataset_close(d);
    free(straight);
    free(resumed);
    tu_rm_tree(dir);
}

/* 1 if image [h, w] equals ref, 2 if it equals ref mirrored, 0 if neither. */
static int match_or_mirror(const float *img, const float *ref, int h, int w)
{
    int same = 1, mirror = 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            same &= img[y * w + x] == ref[y * w + x];
            mirror &= img[y * w + x] == ref[y * w + (w - 1 - x)];
        }
    return same ? 1 : mirror ? 2 : 0;
}

Test(dataset, flip_mirrors_about_half_the_images_deterministically)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    enum { N = 200, H = 3, W = 5 };
    /* first pixel = index; the mirror is told apart by the rest of the pattern */
    tu_write_idx(dir, N, H, W, 0, idx_pixel, idx_label);
    difu_dataset_params p = params(1);
    p.flip = 1;
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    difu_dataset *ref = open_ok(spec_of("idx", dir), &p);
    float *x = malloc(N * H * W * sizeof(float)), r[H * W];
    int flipped0[N], flipped1[N];
    for (int e = 0; e < 2; e++) {
        difu_dataset_pos pos = difu_dataset_get_pos(d);
        cr_assert_eq(difu_dataset_next_batch(d, N, x, NULL), DIFU_OK);
        int count = 0;
        for (int b = 0; b < N; b++) {
            /* find which image this is: try every one */
            int found = 0;
            for (int i = 0; i < N && !found; i++) {
                cr_assert_eq(difu_dataset_get(ref, i, r, NULL), DIFU_OK);
                int m = match_or_mirror(x + b * H * W, r, H, W);
                if (m) {
                    found = 1;
                    (e == 0 ? flipped0 : flipped1)[i] = m == 2;
                    count += m == 2;
                }
            }
            cr_assert(found, "epoch %llu draw %d matches no image", (unsigned long long)pos.epoch,
                      b);
        }
        cr_assert(count > N / 4 && count < 3 * N / 4, "epoch %d flipped %d of %d", e, count, N);
    }
    cr_assert_neq(memcmp(flipped0, flipped1, sizeof flipped0), 0, "same flips in both epochs");
    difu_dataset_close(d);

    /* the same seed gives the same flips; flip off gives none */
    d = open_ok(spec_of("idx", dir), &p);
    float *y = malloc(N * H * W * sizeof(float));
    cr_assert_eq(difu_dataset_set_pos(d, (difu_dataset_pos){0, 0}), DIFU_OK);
    cr_assert_eq(difu_dataset_next_batch(d, N, y, NULL), DIFU_OK);
    difu_dataset_close(d);
    p.flip = 0;
    d = open_ok(spec_of("idx", dir), &p);
    cr_assert_eq(difu_dataset_next_batch(d, N, x, NULL), DIFU_OK);
    int differ = 0;
    for (int b = 0; b < N; b++) {
        int i = (int)lroundf((x[b * H * W] + 1.0f) * 127.5f);
        cr_assert_eq(difu_dataset_get(ref, i, r, NULL), DIFU_OK);
        cr_assert_eq(match_or_mirror(x + b * H * W, r, H, W), 1, "flip off but draw %d differs",
                     b);
        differ += memcmp(x + b * H * W, y + b * H * W, sizeof r) != 0;
    }
    cr_assert(differ > N / 4, "flip on and off agree on %d of %d draws", N - differ, N);
    free(x);
    free(y);
    difu_dataset_close(d);
    difu_dataset_close(ref);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- IDX errors */

Test(dataset, missing_files_and_bad_specs)
{
    difu_dataset_params p = params(1);
    open_fails("idx:/nonexistent/difu-dir", &p, DIFU_ERR_IO, "/nonexistent/difu-dir",
               "train-images-idx3-ubyte", NULL);
    open_fails("cifar10:/nonexistent/difu-dir", &p, DIFU_ERR_IO, "/nonexistent/difu-dir",
               "data_batch", NULL);
    p.size = 16;
    open_fails("folder:/nonexistent/difu-dir", &p, DIFU_ERR_IO, "/nonexistent/difu-dir", NULL);
    p.size = 0;
    open_fails("folder:/tmp", &p, DIFU_ERR_INVALID_ARG, "size", NULL);
    open_fails("mnist:/tmp", &p, DIFU_ERR_INVALID_ARG, "unknown", "idx:DIR", NULL);
    open_fails("idx:", &p, DIFU_ERR_INVALID_ARG, "idx:DIR", NULL);
    open_fails("fashion-mnist:valid", &p, DIFU_ERR_INVALID_ARG, "fashion-mnist:test", NULL);
    p.channels = 2;
    open_fails("fashion-mnist", &p, DIFU_ERR_INVALID_ARG, "channels 2", NULL);
    p.channels = 1;
    p.size = -3;
    open_fails("fashion-mnist", &p, DIFU_ERR_INVALID_ARG, "size -3", NULL);

    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 5, 2, 2, 0, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    unlink(path);
    p = params(1);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_IO, "train-labels-idx1-ubyte", NULL);
    tu_rm_tree(dir);
}

/* Rewrites dir's images file (raw) with the given bytes. */
static void put_images(const char *dir, const unsigned char *b, size_t n, int gzip)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte%s", dir, gzip ? ".gz" : "");
    tu_write_bytes(path, b, n, gzip);
}

Test(dataset, bad_magic_is_refused_with_file_and_offset)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 4, 2, 2, 0, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    tu_put_be32(b, 0x804);   /* 4 dims */
    put_images(dir, b, n, 0);
    difu_dataset_params p = params(1);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "magic", "0x00000804",
               "byte offset 0", NULL);
    tu_put_be32(b, 0x0d03);   /* i32 type */
    put_images(dir, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "magic", NULL);
    free(b);

    /* labels file with the images' magic */
    tu_write_idx(dir, 4, 2, 2, 0, idx_pixel, idx_label);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    b = tu_read_file(path, &n);
    tu_put_be32(b, 0x803);
    tu_write_bytes(path, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "magic", NULL);
    free(b);
    tu_rm_tree(dir);
}

Test(dataset, absurd_header_counts_are_refused_before_allocating)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 4, 2, 2, 0, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    difu_dataset_params p = params(1);
    /* 2^31 - 1 images of 65535 x 65535 would be 9e18 bytes */
    unsigned char big[16];
    memcpy(big, b, 16);
    tu_put_be32(big + 4, 2147483647u);
    tu_put_be32(big + 8, 65535);
    tu_put_be32(big + 12, 65535);
    put_images(dir, big, 16, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "bytes", NULL);
    put_images(dir, big, 16, 1);
    unlink(path);
    char gzpath[4200];
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, gzpath, "gzip", NULL);
    unlink(gzpath);
    /* 10^9 images: above the size the file has */
    tu_put_be32(b + 4, 1000000000u);
    put_images(dir, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "1000000000 x 2 x 2",
               "4000000016", NULL);
    /* a count beyond 2^31 - 1 and a zero side */
    tu_put_be32(b + 4, 0xffffffffu);
    put_images(dir, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "dimension 0", "byte offset 4",
               NULL);
    tu_put_be32(b + 4, 4);
    tu_put_be32(b + 12, 0);
    put_images(dir, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "dimension 2", NULL);
    free(b);
    tu_rm_tree(dir);
}

Test(dataset, truncated_raw_files_are_refused_at_every_cut)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 6, 3, 3, 0, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    difu_dataset_params p = params(1);
    size_t cuts[] = {0, 1, 3, 7, 15, 16, 17, 40, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        put_images(dir, b, cuts[c], 0);
        open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, NULL);
    }
    /* one byte too many */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    put_images(dir, longer, n + 1, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "trailing", NULL);
    free(longer);
    free(b);
    tu_rm_tree(dir);
}

Test(dataset, truncated_gzip_streams_are_refused_at_every_cut)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 50, 8, 8, 1, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    difu_dataset_params p = params(1);
    size_t cuts[] = {2, 5, 10, 20, n / 2, n - 8, n - 5, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        tu_write_bytes(path, b, cuts[c], 0);   /* the cut gzip bytes, written as they are */
        open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, NULL);
    }
    /* a corrupted CRC in the trailer */
    b[n - 6] ^= 0xff;
    tu_write_bytes(path, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, NULL);
    free(b);
    /* the right length but a stream that ends early */
    tu_write_idx(dir, 50, 8, 8, 1, idx_pixel, idx_label);
    b = tu_read_file(path, &n);
    tu_write_bytes(path, b, n / 2, 0);
    char err[512] = "";
    difu_dataset *d = NULL;
    cr_assert_eq(difu_dataset_open(spec_of("idx", dir), &p, &d, err, sizeof err),
                 DIFU_ERR_FORMAT);
    cr_assert(strstr(err, "truncated") && strstr(err, "byte offset"), "%s", err);
    free(b);
    tu_rm_tree(dir);
}

Test(dataset, label_errors_name_file_and_offset)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 6, 2, 2, 0, idx_pixel, idx_label);
    char path[4096];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    difu_dataset_params p = params(1);
    b[8 + 4] = 10;
    tu_write_bytes(path, b, n, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "label 10", "image 4",
               "byte offset 12", NULL);
    b[8 + 4] = 1;
    tu_put_be32(b + 4, 5);   /* count disagrees with the images and with the length */
    tu_write_bytes(path, b, n - 1, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "5 labels", NULL);
    tu_write_bytes(path, b, 5, 0);
    open_fails(spec_of("idx", dir), &p, DIFU_ERR_FORMAT, path, "truncated", NULL);
    free(b);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- CIFAR-10 */

static void write_cifar(const char *dir, int batch, int records, int first)
{
    unsigned char *b = malloc((size_t)records * 3073);
    for (int r = 0; r < records; r++) {
        unsigned char *rec = b + (size_t)r * 3073;
        int i = first + r;
        rec[0] = idx_label(i);
        for (int k = 0; k < 3072; k++)
            rec[1 + k] = (unsigned char)((i * 31 + k * 5) & 0xff);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, batch);
    tu_write_bytes(path, b, (size_t)records * 3073, 0);
    free(b);
}

Test(dataset, cifar_values_labels_and_layout)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    write_cifar(dir, 1, 3, 0);
    write_cifar(dir, 2, 2, 3);
    difu_dataset_params p = params(0);
    difu_dataset *d = open_ok(spec_of("cifar10", dir), &p);
    difu_dataset_info in = difu_dataset_get_info(d);
    cr_assert(in.count == 5 && in.channels == 3 && in.height == 32 && in.width == 32 &&
              in.classes == 10);
    float *x = malloc(5 * 3072 * sizeof(float));
    int64_t lab[5];
    cr_assert_eq(difu_dataset_next_batch(d, 5, x, lab), DIFU_OK);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(lab[i], idx_label(i));
        for (int k = 0; k < 3072; k += 97)   /* CHW as stored */
            cr_assert_float_eq(x[i * 3072 + k], ((i * 31 + k * 5) & 0xff) / 127.5f - 1.0f, 1e-6);
    }
    difu_dataset_close(d);

    /* gray at 16 x 16: luma of the RGB planes, then 2 x 2 means */
    p.channels = 1;
    p.size = 16;
    d = open_ok(spec_of("cifar10", dir), &p);
    float g[256];
    cr_assert_eq(difu_dataset_get(d, 2, g, NULL), DIFU_OK);
    double s = 0;
    for (int y = 0; y < 2; y++)
        for (int xx = 0; xx < 2; xx++) {
            double v[3];
            for (int c = 0; c < 3; c++)
                v[c] = (2 * 31 + (c * 1024 + y * 32 + xx) * 5) & 0xff;
            s += 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
        }
    cr_assert_float_eq(g[0], (float)(int)(s / 4 + 0.5) / 127.5f - 1.0f, 1.01f / 127.5f,
                       "got %g", g[0]);
    difu_dataset_close(d);
    free(x);
    tu_rm_tree(dir);
}

Test(dataset, cifar_in_the_tarball_subfolder)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    for (int b = 1; b <= 5; b++)
        write_cifar(sub, b, 2, 2 * (b - 1));
    difu_dataset_params p = params(1);
    difu_dataset *d = open_ok(spec_of("cifar10", dir), &p);
    cr_assert_eq(difu_dataset_get_info(d).count, 10);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, cifar_errors_name_file_and_offset)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    write_cifar(dir, 1, 3, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    difu_dataset_params p = params(1);
    size_t cuts[] = {1, 3072, 3074, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        tu_write_bytes(path, b, cuts[c], 0);
        open_fails(spec_of("cifar10", dir), &p, DIFU_ERR_FORMAT, path, "3073", NULL);
    }
    tu_write_bytes(path, b, 0, 0);
    open_fails(spec_of("cifar10", dir), &p, DIFU_ERR_FORMAT, path, NULL);
    b[2 * 3073] = 10;
    tu_write_bytes(path, b, n, 0);
    open_fails(spec_of("cifar10", dir), &p, DIFU_ERR_FORMAT, path, "label 10", "record 2",
               "byte offset 6146", NULL);
    free(b);
    unlink(path);
    open_fails(spec_of("cifar10", dir), &p, DIFU_ERR_IO, dir, NULL);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- PNG folders */

/* Writes a PNG of the given libpng colour type and depth from rows of packed samples. */
static void write_png(const char *path, int w, int h, int color, int depth, png_bytep *rows,
                      png_colorp palette, int npal, int interlace)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    cr_assert_eq(setjmp(png_jmpbuf(png)), 0, "libpng failed writing the fixture %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, npal);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* A w x h image of one colour per sample (c samples of `depth` bits, depth 8 or 16). */
static void write_solid(const char *path, int w, int h, int color, int c, int depth,
                        const int *sample)
{
    int bps = depth / 8;
    png_bytep data = malloc((size_t)w * h * c * bps);
    png_bytep *rows = malloc(h * sizeof *rows);
    for (int y = 0; y < h; y++) {
        rows[y] = data + (size_t)y * w * c * bps;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                png_bytep s = rows[y] + ((size_t)x * c + k) * bps;
                if (bps == 2) {
                    s[0] = (png_byte)(sample[k] >> 8);
                    s[1] = (png_byte)sample[k];
                } else {
                    s[0] = (png_byte)sample[k];
                }
            }
    }
    write_png(path, w, h, color, depth, rows, NULL, 0, 0);
    free(rows);
    free(data);
}

static void folder_path(char *path, const char *dir, const char *name)
{
    snprintf(path, 4096, "%s/%s", dir, name);
}

Test(dataset, folder_converts_every_colour_type_and_size)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    char path[4096];
    /* names chosen so that name order is the list order below */
    folder_path(path, dir, "a_gray8.png");
    write_solid(path, 7, 5, PNG_COLOR_TYPE_GRAY, 1, 8, (int[]){200});
    folder_path(path, dir, "b_gray16.png");
    write_solid(path, 4, 9, PNG_COLOR_TYPE_GRAY, 1, 16, (int[]){0x8000});   /* -> 128 */
    folder_path(path, dir, "c_rgb.png");
    write_solid(path, 3, 3, PNG_COLOR_TYPE_RGB, 3, 8, (int[]){255, 0, 100});
    folder_path(path, dir, "d_rgba.PNG");
    write_solid(path, 10, 10, PNG_COLOR_TYPE_RGB_ALPHA, 4, 8, (int[]){200, 100, 50, 51});
    folder_path(path, dir, "e_ga.png");
    write_solid(path, 2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 2, 8, (int[]){255, 0});
    folder_path(path, dir, "f_palette.png");
    {
        png_color pal[2] = {{10, 20, 30}, {250, 240, 230}};
        png_byte r0[3] = {0, 1, 0}, r1[3] = {0, 1, 0}, r2[3] = {0, 1, 0};
        png_bytep rows[3] = {r0, r1, r2};
        /* 8-bit palette indices; 3 x 3, centre column is colour 1 */
        write_png(path, 3, 3, PNG_COLOR_TYPE_PALETTE, 8, rows, pal, 2, 0);
    }
    folder_path(path, dir, "g_gray1_interlaced.png");
    {
        png_byte r[8][1];
        png_bytep rows[8];
        for (int y = 0; y < 8; y++) {
            r[y][0] = 0xf0;   /* left half white, right half black */
            rows[y] = r[y];
        }
        write_png(path, 8, 8, PNG_COLOR_TYPE_GRAY, 1, rows, NULL, 0, 1);
    }
    folder_path(path, dir, "readme.txt");
    tu_write_bytes(path, "not an image", 12, 0);

    difu_dataset_params p = params(0);
    p.channels = 3;
    p.size = 4;
    difu_dataset *d = open_ok(spec_of("folder", dir), &p);
    difu_dataset_info in = difu_dataset_get_info(d);
    cr_assert(in.count == 7 && in.channels == 3 && in.height == 4 && in.width == 4 &&
              in.classes == 0, "count %lld", (long long)in.count);
    float x[3 * 16];
    int64_t lab;
    /* solid images stay solid at any size: {index, channel} -> u8 */
    struct { int i; int v[3]; } solid[] = {
        {0, {200, 200, 200}}, {1, {128, 128, 128}}, {2, {255, 0, 100}},
        {3, {40, 20, 10}},   /* RGBA over black: 200*0.2, 100*0.2, 50*0.2 */
        {4, {0, 0, 0}},      /* fully transparent */
    };
    for (size_t s = 0; s < sizeof solid / sizeof *solid; s++) {
        cr_assert_eq(difu_dataset_get(d, solid[s].i, x, &lab), DIFU_OK);
        cr_assert_eq(lab, -1);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 16; j++)
                cr_assert_float_eq(x[k * 16 + j], solid[s].v[k] / 127.5f - 1.0f, 1.01f / 127.5f,
                                   "image %d channel %d pixel %d: %g", solid[s].i, k, j,
                                   x[k * 16 + j]);
    }
    /* palette 3 -> 4 (bilinear): the middle columns lean to colour 1, the edges to colour 0 */
    cr_assert_eq(difu_dataset_get(d, 5, x, NULL), DIFU_OK);
    cr_assert_float_eq(x[0], 10 / 127.5f - 1.0f, 1.01f / 127.5f);
    cr_assert_gt(x[1], x[0]);
    cr_assert_float_eq(x[1], x[2], 1e-6);
    /* 1-bit 8 x 8 -> 4 x 4 area: exact halves */
    cr_assert_eq(difu_dataset_get(d, 6, x, NULL), DIFU_OK);
    for (int y = 0; y < 4; y++)
        for (int xx = 0; xx < 4; xx++)
            cr_assert_float_eq(x[y * 4 + xx], xx < 2 ? 1.0f : -1.0f, 1e-6);
    difu_dataset_close(d);

    /* gray output: RGB through luma */
    p.channels = 1;
    p.size = 2;
    d = open_ok(spec_of("folder", dir), &p);
    cr_assert_eq(difu_dataset_get(d, 2, x, NULL), DIFU_OK);
    float luma = (float)(int)(0.299 * 255 + 0.114 * 100 + 0.5);
    cr_assert_float_eq(x[0], luma / 127.5f - 1.0f, 1.01f / 127.5f, "got %g", x[0]);
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, folder_centre_crops_non_square_images)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    char path[4096];
    /* 6 wide x 2 high, column x has value 40 * x: the centre square is columns 2..3 */
    png_byte r0[6], r1[6];
    for (int x = 0; x < 6; x++)
        r0[x] = r1[x] = (png_byte)(40 * x);
    png_bytep rows[2] = {r0, r1};
    folder_path(path, dir, "wide.png");
    write_png(path, 6, 2, PNG_COLOR_TYPE_GRAY, 8, rows, NULL, 0, 0);
    difu_dataset_params p = params(0);
    p.channels = 1;
    p.size = 2;
    difu_dataset *d = open_ok(spec_of("folder", dir), &p);
    float x[4];
    cr_assert_eq(difu_dataset_get(d, 0, x, NULL), DIFU_OK);
    for (int y = 0; y < 2; y++) {
        cr_assert_float_eq(x[y * 2 + 0], 80 / 127.5f - 1.0f, 1e-6, "got %g", x[y * 2]);
        cr_assert_float_eq(x[y * 2 + 1], 120 / 127.5f - 1.0f, 1e-6, "got %g", x[y * 2 + 1]);
    }
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

Test(dataset, folder_errors_name_the_file)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    difu_dataset_params p = params(0);
    p.size = 8;
    open_fails(spec_of("folder", dir), &p, DIFU_ERR_FORMAT, dir, "no .png", NULL);
    char path[4096], bad[4096];
    folder_path(path, dir, "a_good.png");
    write_solid(path, 8, 8, PNG_COLOR_TYPE_GRAY, 1, 8, (int[]){7});
    folder_path(bad, dir, "b_text.png");
    tu_write_bytes(bad, "hello, not a png at all", 23, 0);
    open_fails(spec_of("folder", dir), &p, DIFU_ERR_FORMAT, "b_text.png", "signature", NULL);
    /* a PNG cut in the middle of its data, and one cut in its header */
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    size_t cuts[] = {8, 20, 40, n / 2, n - 4};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        tu_write_bytes(bad, b, cuts[c], 0);
        open_fails(spec_of("folder", dir), &p, DIFU_ERR_FORMAT, "b_text.png", "unreadable",
                   NULL);
    }
    free(b);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- batches: bad arguments */

Test(dataset, next_batch_and_get_refuse_bad_arguments)
{
    char dir[64];
    tu_make_tmpdir(dir, sizeof dir, "data");
    tu_write_idx(dir, 4, 2, 2, 0, idx_pixel, idx_label);
    difu_dataset_params p = params(1);
    difu_dataset *d = open_ok(spec_of("idx", dir), &p);
    float x[16];
    cr_assert_eq(difu_dataset_next_batch(d, 0, x, NULL), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_dataset_last_error(d), "batch 0"), "%s", difu_dataset_last_error(d));
    cr_assert_eq(difu_dataset_next_batch(d, 2, NULL, NULL), DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_dataset_get(d, 4, x, NULL), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_dataset_last_error(d), "index 4"), "%s", difu_dataset_last_error(d));
    difu_dataset_pos pos = difu_dataset_get_pos(d);
    cr_assert(pos.epoch == 0 && pos.index == 0, "a failed call moved the position");
    difu_dataset_close(d);
    tu_rm_tree(dir);
}

/* ---------------------------------------------------------------- the real Fashion-MNIST */

Test(dataset, fashion_mnist_train_has_60000_balanced_images, .timeout = 120)
{
    struct stat st;
    if (stat(FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0)
        cr_skip_test("%s not installed (apt-get install dataset-fashion-mnist)", FMNIST_DIR);
    difu_dataset_params p = params(1);
    difu_dataset *d = open_ok("fashion-mnist", &p);
    difu_dataset_info in = difu_dataset_get_info(d);
    cr_assert(in.count == 60000 && in.channels == 1 && in.height == 28 && in.width == 28 &&
              in.classes == 10);
    enum { B = 1000 };
    float *x = malloc((size_t)B * 784 * sizeof(float));
    int64_t lab[B];
    int per_class[10] = {0};
    float lo = 2, hi = -2;
    double sum = 0;
    for (int b = 0; b < 60; b++) {
        cr_assert_eq(difu_dataset_next_batch(d, B, x, lab), DIFU_OK);
        for (int i = 0; i < B; i++) {
            cr_assert(lab[i] >= 0 && lab[i] < 10);
            per_class[lab[i]]++;
        }
        for (size_t j = 0; j < (size_t)B * 784; j++) {
            lo = x[j] < lo ? x[j] : lo;
            hi = x[j] > hi ? x[j] : hi;
            sum += x[j];
        }
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(per_class[c], 6000, "class %d has %d", c, per_class[c]);
    cr_assert(lo == -1.0f && hi == 1.0f, "range [%g, %g]", lo, hi);
    double mean = sum / (60000.0 * 784);   /* mostly background: mean pixel ~ 0.286 -> -0.43 */
    cr_assert(mean > -0.6 && mean < -0.3, "mean %g", mean);
    cr_assert_eq(difu_dataset_get_pos(d).epoch, 1);
    difu_dataset_close(d);
    d = open_ok("fashion-mnist:test", &p);
    cr_assert_eq(difu_dataset_get_info(d).count, 10000);
    difu_dataset_close(d);
    free(x);
}
