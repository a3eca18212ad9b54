/* test_util.h: helpers shared by the Criterion suites: fixed-seed data, engines, comparisons. */
#ifndef DIFU_TEST_UTIL_H
#define DIFU_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "difu.h"
#include "safetensors.h"

/* Fills x[0..n) with uniform values in [lo, hi) from a small fixed-seed generator (splitmix64). */
void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);
/* 64-byte aligned allocation, zeroed; aborts the test on failure. Free with tu_free. */
float *tu_alloc(size_t n);
void tu_free(void *p);

/* An engine with the given ISA cap and threads (DIFU_ISA env ignored); fails the test on error. */
difu_engine *tu_engine(difu_isa cap, int threads);

/* The largest |a-b| / (atol + rtol*|b|) over [0, n). Returns it and writes where it happened. */
double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol,
                      size_t *where);

/* Asserts every |a[i]-b[i]| <= atol + rtol*|b[i]|; on failure the message names `what`, the
 * index, both values and the largest difference. */
void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double atol,
                     double rtol);

/* The ISAs this machine can run in this build, lowest first (ref always). Returns the count. */
int tu_runnable_isas(difu_isa *out);

/* A finished run of a program: exit status (or 1000 + the signal) and its captured output. */
typedef struct tu_run_result {
    int status;
    char out[1 << 16], err[1 << 14];
} tu_run_result;

/* The difu binary: $DIFU_BIN (set by tests/meson.build), else ../difu, ./difu or build/difu. */
const char *tu_difu_bin(void);
/* Runs argv (NULL-terminated, argv[0] a path) with stdout and stderr captured; fails the test if
 * it cannot start. The caller frees the result. */
tu_run_result *tu_run_argv(const char *const *argv);

/* Runs the difu binary with the NULL-terminated arguments (at most 38); as tu_run_argv. */
tu_run_result *tu_run_difu(const char *first, ...);
/* Asserts r exited with status and, unless in_err is NULL, that its stderr contains in_err; the
 * message names `what`. Frees r. */
void tu_expect_exit(tu_run_result *r, int status, const char *in_err, const char *what);

/* Makes a fresh folder /tmp/difu-<tag>-XXXXXX, its path written to dir[0..len); fails the test on
 * error. */
void tu_make_tmpdir(char *dir, size_t len, const char *tag);
/* Removes dir and everything below it (links are removed, not followed). */
void tu_rm_tree(const char *dir);
/* Writes data[0..n) to path, gzip-compressed when gzip is set; fails the test on error. */
void tu_write_bytes(const char *path, const void *data, size_t n, int gzip);
/* The whole file at path, malloc'd with a 0 byte after its *n bytes; fails the test on error. */
unsigned char *tu_read_file(const char *path, size_t *n);
/* Stores v big-endian in p[0..4), as IDX headers hold their numbers. */
void tu_put_be32(unsigned char *p, uint32_t v);

/* Pixel (y, x) of image i (w pixels wide), and the label of image i, of an IDX fixture. */
typedef uint8_t (*tu_idx_pixel_fn)(int i, int y, int x, int w);
typedef uint8_t (*tu_idx_label_fn)(int i);
/* Writes dir/train-images-idx3-ubyte and dir/train-labels-idx1-ubyte (MNIST's IDX format, with
 * ".gz" and gzip-compressed when gzip is set) for n images of h x w. */
void tu_write_idx(const char *dir, int n, int h, int w, int gzip, tu_idx_pixel_fn pixel,
                  tu_idx_label_fn label);
/* The trainer's fixture, raw IDX: n 8x8 images of 4 classes, a bright 4x4 square in quadrant
 * (label = i % 4) on a dark background, with a little per-image jitter. */
void tu_write_quadrant_idx(const char *dir, int n);

/* The committed file tests/data/<name> into path: $DIFU_TEST_DATA (set by tests/meson.build),
 * else the data folder beside this source, tests/data or ../tests/data; fails the test if none
 * is readable. */
void tu_data_path(char *path, size_t len, const char *name);
/* The golden tensors tests/data/<name> (tools/pytorch/make_golden.py); fails the test if they do
 * not load. Free with difu_st_free. */
difu_safetensors *tu_load_golden(difu_engine *e, const char *name);
/* Tensor `name` of s; fails the test if s lacks it. */
const difu_st_tensor *tu_golden_tensor(const difu_safetensors *s, const char *name);
/* Asserts max |got - want| <= tol * max |want| over [0, n), the golden files' rule; on failure
 * names `what`, where the largest difference is and both values there. */
void tu_assert_close_to_largest(const char *what, const float *got, const float *want, int64_t n,
                                double tol);

/* A convolution's buffers, [n, cin, h, w] in and [n, cout, oh, ow] out: x, dy, w and b filled
 * uniformly from seed (x, dy in [-1, 1], w in [-0.5, 0.5], b in [-1, 1]); y, dx, dw, db for the
 * results. */
typedef struct tu_conv_bufs {
    size_t nx, ny, nw;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
} tu_conv_bufs;
tu_conv_bufs tu_conv_bufs_make(const difu_conv2d_desc *d, uint64_t seed);
void tu_conv_bufs_free(tu_conv_bufs *B);

#endif /* DIFU_TEST_UTIL_H */
