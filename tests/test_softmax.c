/* test_softmax.c: row softmax forward/backward: the reference against the formula in double,
 * every ISA against the reference at 1 and 2 threads on the attention width (49) and tails
 * (1, 3, 17, 64, 196), negative scales and large inputs, in-place use, thread-count independence,
 * the backward against finite differences in double, rejected arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

static difu_engine *engine_for(difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    cr_assert_eq(difu_engine_kernel_isa(e, DIFU_SLOT_SOFTMAX), isa, "softmax kernel is %s",
                 difu_engine_kernel_name(e, DIFU_SLOT_SOFTMAX));
    return e;
}

/* softmax of scale * x over one row, in double, without max subtraction tricks beyond need. */
static void naive_row(int cols, double scale, const double *x, double *y)
{
    double m = -INFINITY, sum = 0;
    for (int j = 0; j < cols; j++)
        m = fmax(m, scale * x[j]);
    for (int j = 0; j < cols; j++)
        sum += exp(scale * x[j] - m);
    for (int j = 0; j < cols; j++)
        y[j] = exp(scale * x[j] - m) / sum;
}

static void run_softmax(difu_isa isa, int threads, int64_t rows, int cols, float scale,
                        const float *x, const float *dy, float *y, float *dx)
{
    difu_engine *e = engine_for(isa, threads);
    cr_assert_eq(difu_softmax_forward(e, rows, cols, scale, x, y), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(difu_softmax_backward(e, rows, cols, scale, y, dy, dx), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    difu_engine_destroy(e);
}

static const int widths[] = {1, 3, 17, 49, 64, 196};
static const float scales[] = {0.125f, 1.0f, -0.7f};

Test(softmax, reference_matches_the_formula_in_double)
{
    for (int w = 0; w < 6; w++)
        for (int s = 0; s < 3; s++) {
            const int rows = 7, cols = widths[w];
            const size_t n = (size_t)rows * cols;
            float *x = tu_alloc(n), *dy = tu_alloc(n), *y = tu_alloc(n), *dx = tu_alloc(n);
            float *want_y = tu_alloc(n), *want_dx = tu_alloc(n);
            tu_fill_uniform(x, n, 1 + w, -8.0f, 8.0f);
            tu_fill_uniform(dy, n, 2 + w, -1.0f, 1.0f);
            run_softmax(DIFU_ISA_REF, 1, rows, cols, scales[s], x, dy, y, dx);
            double *xd = malloc(cols * sizeof *xd), *yd = malloc(cols * sizeof *yd);
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < cols; j++)
                    xd[j] = x[r * cols + j];
                naive_row(cols, scales[s], xd, yd);
                double dot = 0;
                for (int j = 0; j < cols; j++)
                    dot += dy[r * cols + j] * yd[j];
                for (int j = 0; j < cols; j++) {
                    want_y[r * cols + j] = (float)yd[j];
                    want_dx[r * cols + j] = (float)(scales[s] * yd[j] * (dy[r * cols + j] - dot));
                }
            }
            char what[64];
            snprintf(what, sizeof what, "softmax_ref cols=%d scale=%g y", cols, scales[s]);
            tu_assert_close(what, y, want_y, n, 1e-7, 1e-5);
            snprintf(what, sizeof what, "softmax_ref cols=%d scale=%g dx", cols, scales[s]);
            tu_assert_close(what, dx, want_dx, n, 1e-6, 1e-4);
            free(xd), free(yd);
            tu_free(x), tu_free(dy), tu_free(y), tu_free(dx), tu_free(want_y), tu_free(want_dx);
        }
}

Test(softmax, every_isa_matches_the_reference_at_1_and_2_threads)
{
    static const int row_counts[] = {1, 7, 33, 700};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int w = 0; w < 6; w++)
        for (int rc = 0; rc < 4; rc++)
            for (int s = 0; s < 3; s++) {
                const int rows = row_counts[rc], cols = widths[w];
                const size_t n = (size_t)rows * cols;
                float *x = tu_alloc(n), *dy = tu_alloc(n);
                tu_fill_uniform(x, n, 10 + w, -30.0f, 30.0f);
                tu_fill_uniform(dy, n, 20 + w, -1.0f, 1.0f);
                float *want_y = tu_alloc(n), *want_dx = tu_alloc(n);
                run_softmax(DIFU_ISA_REF, 1, rows, cols, scales[s], x, dy, want_y, want_dx);
                for (int i = 0; i < nisa; i++)
                    for (int threads = 1; threads <= 2; threads++) {
                        float *y = tu_alloc(n), *dx = tu_alloc(n);
                        run_softmax(isas[i], threads, rows, cols, scales[s], x, dy, y, dx);
                        char what[96];
                        snprintf(what, sizeof what, "softmax %s x%d %dx%d scale=%g y",
                                 difu_isa_name(isas[i]), threads, rows, cols, scales[s]);
                        tu_assert_close(what, y, want_y, n, 1e-30, 4e-6);
                        snprintf(what, sizeof what, "softmax %s x%d %dx%d scale=%g dx",
                                 difu_isa_name(isas[i]), threads, rows, cols, scales[s]);
                        tu_assert_close(what, dx, want_dx, n, 1e-6, 1e-4);
                        tu_free(y), tu_free(dx);
                    }
                tu_free(x), tu_free(dy), tu_free(want_y), tu_free(want_dx);
            }
}

Test(softmax, large_inputs_do_not_overflow_and_rows_sum_to_one)
{
    const int rows = 5, cols = 49;
    const size_t n = (size_t)rows * cols;
    float *x = tu_alloc(n), *dy = tu_alloc(n), *y = tu_alloc(n), *dx = tu_alloc(n);
    tu_fill_uniform(x, n, 50, -1e4f, 1e4f);
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++) {
        run_softmax(isas[i], 1, rows, cols, 1.0f, x, dy, y, dx);
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int j = 0; j < cols; j++) {
                cr_assert(isfinite(y[r * cols + j]) && y[r * cols + j] >= 0, "%s y[%d,%d] = %g",
                          difu_isa_name(isas[i]), r, j, y[r * cols + j]);
                sum += y[r * cols + j];
            }
            cr_assert(fabs(sum - 1.0) < 1e-5, "%s row %d sums to %.9g", difu_isa_name(isas[i]), r,
                      sum);
        }
    }
    tu_free(x), tu_free(dy), tu_free(y), tu_free(dx);
}

Test(softmax, in_place_and_thread_count_give_identical_bits)
{
    const int rows = 1500, cols = 49; /* several row chunks */
    const size_t n = (size_t)rows * cols;
    float *x = tu_alloc(n), *dy = tu_alloc(n), *buf = tu_alloc(n);
    tu_fill_uniform(x, n, 60, -5.0f, 5.0f);
    tu_fill_uniform(dy, n, 61, -1.0f, 1.0f);
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++) {
        float *y1 = tu_alloc(n), *dx1 = tu_alloc(n);
        run_softmax(isas[i], 1, rows, cols, 0.125f, x, dy, y1, dx1);
        for (int threads = 2; threads <= 3; threads++) {
            difu_engine *e = engine_for(isas[i], threads);
            memcpy(buf, x, n * 4);
            cr_assert_eq(difu_softmax_forward(e, rows, cols, 0.125f, buf, buf), DIFU_OK);
            cr_assert(!memcmp(buf, y1, n * 4), "%s x%d in-place forward differs",
                      difu_isa_name(isas[i]), threads);
            memcpy(buf, dy, n * 4);
            cr_assert_eq(difu_softmax_backward(e, rows, cols, 0.125f, y1, buf, buf), DIFU_OK);
            cr_assert(!memcmp(buf, dx1, n * 4), "%s x%d in-place backward differs",
                      difu_isa_name(isas[i]), threads);
            difu_engine_destroy(e);
        }
        tu_free(y1), tu_free(dx1);
    }
    tu_free(x), tu_free(dy), tu_free(buf);
}

/* L = sum(dy * softmax(scale * x)) per row in double; central differences in x. */
Test(softmax, backward_matches_finite_differences)
{
    static const int cols_list[] = {3, 17, 49};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int w = 0; w < 3; w++) {
        const int rows = 3, cols = cols_list[w];
        const float scale = 0.6f;
        const size_t n = (size_t)rows * cols;
        float *x = tu_alloc(n), *dy = tu_alloc(n), *fd = tu_alloc(n);
        tu_fill_uniform(x, n, 70 + w, -3.0f, 3.0f);
        tu_fill_uniform(dy, n, 80 + w, -1.0f, 1.0f);
        double *xd = malloc(cols * sizeof *xd), *yd = malloc(cols * sizeof *yd);
        const double h = 1e-6;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) {
                double l[2];
                for (int side = 0; side < 2; side++) {
                    for (int j = 0; j < cols; j++)
                        xd[j] = x[r * cols + j];
                    xd[k] += side ? -h : h;
                    naive_row(cols, scale, xd, yd);
                    l[side] = 0;
                    for (int j = 0; j < cols; j++)
                        l[side] += dy[r * cols + j] * yd[j];
                }
                fd[r * cols + k] = (float)((l[0] - l[1]) / (2 * h));
            }
        for (int i = 0; i < nisa; i++) {
            float *y = tu_alloc(n), *dx = tu_alloc(n);
            run_softmax(isas[i], 2, rows, cols, scale, x, dy, y, dx);
            char what[64];
            snprintf(what, sizeof what, "softmax %s cols=%d dx vs finite differences",
                     difu_isa_name(isas[i]), cols);
            tu_assert_close(what, dx, fd, n, 1e-6, 1e-4);
            tu_free(y), tu_free(dx);
        }
        free(xd), free(yd);
        tu_free(x), tu_free(dy), tu_free(fd);
    }
}

Test(softmax, bad_arguments_are_rejected_with_a_message)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float buf[8] = {0};
    cr_assert_eq(difu_softmax_forward(e, 2, 0, 1.0f, buf, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "softmax_forward") &&
                  strstr(difu_engine_last_error(e), "cols=0"),
              "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_softmax_backward(e, -1, 4, 1.0f, buf, buf, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "softmax_backward") &&
                  strstr(difu_engine_last_error(e), "rows=-1"),
              "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_softmax_forward(e, 2, 4, NAN, buf, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "scale"), "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_softmax_backward(e, 2, 4, 1.0f, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "softmax_backward: NULL"), "%s",
              difu_engine_last_error(e));
    difu_engine_destroy(e);
}
