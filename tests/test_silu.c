/* test_silu.c: SiLU forward/backward: the reference against the formula in double, every ISA
 * against the reference at 1 and 2 threads on tails and extreme inputs, in-place use, thread-count
 * independence, the backward against finite differences in double, rejected arguments. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "test_util.h"

static difu_engine *engine_for(difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    cr_assert_eq(difu_engine_kernel_isa(e, DIFU_SLOT_SILU), isa, "silu kernel is %s",
                 difu_engine_kernel_name(e, DIFU_SLOT_SILU));
    return e;
}

static double silu_d(double x)
{
    return x / (1.0 + exp(-x));
}

/* Inputs over [-20, 20] with extremes spliced in: large of both signs, 0, tiny, near the exp
 * clamps. */
static float *make_input(size_t n, uint64_t seed)
{
    static const float special[] = {0.0f,  -0.0f,  1e-30f, -1e-30f, 88.5f, -88.5f, 100.0f, -100.0f,
                                    87.0f, -87.0f, 20.0f,  -20.0f,  1.0f,  -1.0f,  0.5f,   -0.5f};
    float *x = tu_alloc(n);
    tu_fill_uniform(x, n, seed, -20.0f, 20.0f);
    for (size_t i = 0; i < n && i < 16; i++)
        x[n - 1 - i] = special[i];
    return x;
}

static void run_silu(difu_isa isa, int threads, size_t n, const float *x, const float *dy, float *y,
                     float *dx)
{
    difu_engine *e = engine_for(isa, threads);
    cr_assert_eq(difu_silu_forward(e, (int64_t)n, x, y), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_silu_backward(e, (int64_t)n, x, dy, dx), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    difu_engine_destroy(e);
}

Test(silu, reference_matches_the_formula_in_double)
{
    const size_t n = 4099;
    float *x = make_input(n, 1), *dy = tu_alloc(n), *y = tu_alloc(n), *dx = tu_alloc(n);
    float *want_y = tu_alloc(n), *want_dx = tu_alloc(n);
    tu_fill_uniform(dy, n, 2, -1.0f, 1.0f);
    run_silu(DIFU_ISA_REF, 1, n, x, dy, y, dx);
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], s = 1.0 / (1.0 + exp(-xi));
        want_y[i] = (float)silu_d(xi);
        want_dx[i] = (float)(dy[i] * (s + xi * s * (1.0 - s)));
    }
    tu_assert_close("silu_ref y", y, want_y, n, 1e-37, 1e-6);
    /* silu' has a root near x = -1.28 where s + x s (1 - s) cancels: an absolute floor of
     * ~eps * |dy| there */
    tu_assert_close("silu_ref dx", dx, want_dx, n, 1e-7, 1e-5);
    tu_free(x), tu_free(dy), tu_free(y), tu_free(dx), tu_free(want_y), tu_free(want_dx);
}

Test(silu, every_isa_matches_the_reference_at_1_and_2_threads)
{
    static const size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 1000, 16384, 40009};
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int s = 0; s < 12; s++) {
        const size_t n = sizes[s];
        float *x = make_input(n, 10 + s), *dy = tu_alloc(n);
        tu_fill_uniform(dy, n, 20 + s, -1.0f, 1.0f);
        float *want_y = tu_alloc(n), *want_dx = tu_alloc(n);
        run_silu(DIFU_ISA_REF, 1, n, x, dy, want_y, want_dx);
        for (int i = 0; i < nisa; i++)
            for (int threads = 1; threads <= 2; threads++) {
                float *y = tu_alloc(n), *dx = tu_alloc(n);
                run_silu(isas[i], threads, n, x, dy, y, dx);
                char what[64];
                /* a few ulp; below ~1e-30 the SIMD exp clamps where expf goes denormal */
                snprintf(what, sizeof what, "silu %s x%d n=%zu y", difu_isa_name(isas[i]), threads,
                         n);
                tu_assert_close(what, y, want_y, n, 1e-30, 1e-6);
                snprintf(what, sizeof what, "silu %s x%d n=%zu dx", difu_isa_name(isas[i]), threads,
                         n);
                tu_assert_close(what, dx, want_dx, n, 1e-7, 2e-6);
                tu_free(y), tu_free(dx);
            }
        tu_free(x), tu_free(dy), tu_free(want_y), tu_free(want_dx);
    }
}

Test(silu, in_place_and_thread_count_give_identical_bits)
{
    const size_t n = 50021; /* several 16384-element chunks and a tail */
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    float *x = make_input(n, 30), *dy = tu_alloc(n);
    tu_fill_uniform(dy, n, 31, -1.0f, 1.0f);
    for (int i = 0; i < nisa; i++) {
        float *y1 = tu_alloc(n), *dx1 = tu_alloc(n), *buf = tu_alloc(n);
        run_silu(isas[i], 1, n, x, dy, y1, dx1);
        for (int threads = 2; threads <= 3; threads++) {
            difu_engine *e = engine_for(isas[i], threads);
            memcpy(buf, x, n * 4);
            cr_assert_eq(difu_silu_forward(e, (int64_t)n, buf, buf), DIFU_OK);
            cr_assert(!memcmp(buf, y1, n * 4), "%s x%d in-place forward differs",
                      difu_isa_name(isas[i]), threads);
            memcpy(buf, dy, n * 4);
            cr_assert_eq(difu_silu_backward(e, (int64_t)n, x, buf, buf), DIFU_OK);
            cr_assert(!memcmp(buf, dx1, n * 4), "%s x%d in-place backward differs",
                      difu_isa_name(isas[i]), threads);
            difu_engine_destroy(e);
        }
        tu_free(y1), tu_free(dx1), tu_free(buf);
    }
    tu_free(x), tu_free(dy);
}

Test(silu, backward_matches_finite_differences)
{
    const size_t n = 517;
    float *x = tu_alloc(n), *dy = tu_alloc(n), *fd = tu_alloc(n);
    tu_fill_uniform(x, n, 40, -12.0f, 12.0f);
    tu_fill_uniform(dy, n, 41, -1.0f, 1.0f);
    const double h = 1e-5;
    for (size_t i = 0; i < n; i++)
        fd[i] = (float)(dy[i] * (silu_d((double)x[i] + h) - silu_d((double)x[i] - h)) / (2 * h));
    difu_isa isas[DIFU_ISA_COUNT];
    int nisa = tu_runnable_isas(isas);
    for (int i = 0; i < nisa; i++) {
        float *y = tu_alloc(n), *dx = tu_alloc(n);
        run_silu(isas[i], 2, n, x, dy, y, dx);
        char what[64];
        snprintf(what, sizeof what, "silu %s dx vs finite differences", difu_isa_name(isas[i]));
        tu_assert_close(what, dx, fd, n, 1e-6, 1e-5);
        tu_free(y), tu_free(dx);
    }
    tu_free(x), tu_free(dy), tu_free(fd);
}

Test(silu, bad_arguments_are_rejected_with_a_message)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float buf[4] = {0};
    cr_assert_eq(difu_silu_forward(e, 0, buf, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "silu_forward") &&
                  strstr(difu_engine_last_error(e), "got 0"),
              "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_silu_backward(e, -3, buf, buf, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "silu_backward") &&
                  strstr(difu_engine_last_error(e), "got -3"),
              "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_silu_forward(e, 4, NULL, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "NULL"), "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_silu_backward(e, 4, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "silu_backward: NULL"), "%s",
              difu_engine_last_error(e));
    difu_engine_destroy(e);
}
