/* test_util.h: helpers shared by the Criterion suites: fixed-seed data, engines, comparisons. */
#ifndef DIFU_TEST_UTIL_H
#define DIFU_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "difu.h"

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

#endif /* DIFU_TEST_UTIL_H */
