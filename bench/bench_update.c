/* bench_update.c: throughput of the fused update family (randn, q_sample, sampler_step, adam_ema,
 * sum_squares) for each ISA the machine runs, at 1 and 2 threads. Each ISA is first checked
 * against the reference on 100003 elements (bit-exact for the noise ops, 1e-6 relative for Adam,
 * 1e-12 for the double sum), then timed: one warm-up, median of --reps runs, on buffers touched
 * once beforehand. One line per case: op, elements, ISA, threads, median ms, Gelem/s, GB/s moved.
 *
 *   bench_update [--reps 9] [--threads 1,2]
 *                [--ops randn,q_sample,sampler_step,adam_ema,sum_squares]
 * Sizes: noise ops on a batch of 128 fmnist images (128 x 784) and on 16M elements; Adam and the
 * sum over the 6,472,705 parameters of fmnist-s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_engine.h"
#include "bench_timing.h"
#include "difu.h"

#define CHECK_N 100003
#define PARAMS_S 6472705

static float *alloc_floats(size_t n, float fill)
{
    float *p = NULL;
    size_t bytes = n ? n * sizeof *p : 64;
    if (posix_memalign((void **)&p, 64, bytes) != 0) {
        fprintf(stderr, "bench_update: out of memory for %zu floats\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = fill + (float)(i % 97) * 1e-3f;
    return p;
}

static void must(difu_engine *e, difu_status s)
{
    if (s != DIFU_OK) {
        fprintf(stderr, "bench_update: %s\n", difu_engine_last_error(e));
        exit(1);
    }
}

/* ---------------------------------------------------------------- the cases */

typedef struct bufs {
    float *a, *b, *c, *d, *f; /* five arrays of nmax floats */
    float coef_a[128], coef_b[128];
    difu_adam_params adam;
    difu_sampler_coefs sampler;
} bufs;

enum { OP_RANDN, OP_Q_SAMPLE, OP_SAMPLER, OP_ADAM, OP_SUMSQ, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"randn", "q_sample", "sampler_step", "adam_ema",
                                               "sum_squares"};
static const double op_bytes[OP_COUNT] = {4, 12, 12, 36, 4}; /* per element */

static double sink;

static void run_op(difu_engine *e, int op, int64_t n, bufs *B)
{
    int images = n % 784 == 0 && n / 784 <= 128 ? (int)(n / 784) : 1;
    int64_t per = n / images;
    switch (op) {
    case OP_RANDN:
        must(e, difu_randn(e, 1, 2, 3, B->a, n));
        break;
    case OP_Q_SAMPLE:
        must(e, difu_q_sample(e, images, per, B->a, B->coef_a, B->coef_b, 1, 2, 0, B->b, B->c));
        break;
    case OP_SAMPLER:
        must(e, difu_sampler_step(e, images, per, &B->sampler, B->b, 1, 2, 0, B->a));
        break;
    case OP_ADAM:
        must(e, difu_adam_ema_step(e, n, &B->adam, B->a, B->b, B->c, B->d, B->f));
        break;
    case OP_SUMSQ: {
        double s = 0;
        must(e, difu_sum_squares(e, n, B->a, &s));
        sink += s;
        break;
    }
    }
}

/* Runs op on CHECK_N elements with the ISA and with the reference from the same inputs and
 * compares all outputs. Returns 1 when they agree. */
static int check_op(difu_engine *e, difu_engine *ref, int op, bufs *B, bufs *R)
{
    const int64_t n = CHECK_N;
    for (int64_t i = 0; i < n; i++) {
        float x = (float)sin(0.001 * (double)i);
        B->a[i] = R->a[i] = x;
        B->b[i] = R->b[i] = 0.5f * x;
        B->c[i] = R->c[i] = 0.1f * x;
        B->d[i] = R->d[i] = 0.01f * x * x;
        B->f[i] = R->f[i] = x;
    }
    if (op == OP_SUMSQ) {
        double s1 = 0, s2 = 0;
        must(e, difu_sum_squares(e, n, B->a, &s1));
        must(ref, difu_sum_squares(ref, n, R->a, &s2));
        return fabs(s1 - s2) <= 1e-12 * s2;
    }
    run_op(e, op, n, B);
    run_op(ref, op, n, R);
    float *x[5] = {B->a, B->b, B->c, B->d, B->f}, *y[5] = {R->a, R->b, R->c, R->d, R->f};
    double tol = op == OP_ADAM ? 1e-6 : 0;
    for (int k = 0; k < 5; k++)
        for (int64_t i = 0; i < n; i++)
            if (!(fabs(x[k][i] - y[k][i]) <= tol * fabs(y[k][i]))) {
                fprintf(stderr, "bench_update: %s array %d element %lld: %.9g vs ref %.9g\n",
                        op_names[op], k, (long long)i, x[k][i], y[k][i]);
                return 0;
            }
    return 1;
}

static double time_op(difu_engine *e, int op, int64_t n, bufs *B, int reps)
{
    double t[64];
    run_op(e, op, n, B); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_seconds();
        run_op(e, op, n, B);
        t[r] = bench_seconds() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
    return t[reps / 2];
}

static void init_params(bufs *B)
{
    for (int i = 0; i < 128; i++) {
        B->coef_a[i] = 0.5f + 0.003f * (float)i;
        B->coef_b[i] = sqrtf(1 - B->coef_a[i] * B->coef_a[i]);
    }
    B->adam = (difu_adam_params){.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                 .bc1 = 0.1f, .bc2 = 0.001f, .grad_scale = 1.0f, .l2 = 0.0f,
                                 .decoupled_wd = 0.0f, .ema_decay = 0.9999f};
    B->sampler = (difu_sampler_coefs){.c_x0_xt = 1.2f, .c_x0_eps = 0.66f, .sqrt_ab = 0.83f,
                                      .sqrt_1mab = 0.557f, .c_x0 = 0.4f, .c_xt = 0.5f,
                                      .c_dir = 0.0f, .sigma = 0.1f, .clip_x0 = 1};
}

int main(int argc, char **argv)
{
    int reps = 9, threads[4] = {1, 2}, nthreads = 2, op_on[OP_COUNT] = {1, 1, 1, 1, 1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64) {
                fprintf(stderr, "bench_update: --reps takes 1 to 64\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            nthreads = 0;
            for (char *s = strtok(argv[++i], ","); s && nthreads < 4; s = strtok(NULL, ","))
                threads[nthreads++] = atoi(s);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            memset(op_on, 0, sizeof op_on);
            for (char *s = strtok(argv[++i], ","); s; s = strtok(NULL, ","))
                for (int op = 0; op < OP_COUNT; op++)
                    op_on[op] |= strcmp(s, op_names[op]) == 0;
        } else {
            fprintf(stderr, "usage: bench_update [--reps 9] [--threads 1,2] [--ops randn,...]\n");
            return 2;
        }
    }
    const int64_t nmax = 16 << 20;
    bufs B, R;
    init_params(&B);
    init_params(&R);
    B.a = alloc_floats(nmax, 0.1f);
    B.b = alloc_floats(nmax, 0.2f);
    B.c = alloc_floats(nmax, 0.0f);
    B.d = alloc_floats(nmax, 0.01f);
    B.f = alloc_floats(nmax, 0.1f);
    R.a = alloc_floats(CHECK_N, 0);
    R.b = alloc_floats(CHECK_N, 0);
    R.c = alloc_floats(CHECK_N, 0);
    R.d = alloc_floats(CHECK_N, 0);
    R.f = alloc_floats(CHECK_N, 0);

    difu_cpu_features f = difu_cpu_detect();
    difu_isa best = difu_cpu_best_isa(&f);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = 0;
    isas[n_isa++] = DIFU_ISA_REF;
    if (best == DIFU_ISA_NEON)
        isas[n_isa++] = DIFU_ISA_NEON;
    if (best >= DIFU_ISA_AVX2 && best != DIFU_ISA_NEON)
        isas[n_isa++] = DIFU_ISA_AVX2;
    if (best == DIFU_ISA_AVX512)
        isas[n_isa++] = DIFU_ISA_AVX512;

    difu_engine *ref = bench_make_engine("bench_update", DIFU_ISA_REF, 1);
    printf("%-12s %10s %-7s %3s %10s %9s %8s\n", "op", "elements", "isa", "thr", "ms",
           "Gelem/s", "GB/s");
    for (int op = 0; op < OP_COUNT; op++) {
        if (!op_on[op])
            continue;
        int64_t sizes[2] = {128 * 784, nmax};
        if (op == OP_ADAM || op == OP_SUMSQ)
            sizes[0] = sizes[1] = PARAMS_S;
        int nsizes = sizes[0] == sizes[1] ? 1 : 2;
        for (int k = 0; k < n_isa; k++) {
            difu_engine *chk = bench_make_engine("bench_update", isas[k], 1);
            if (!check_op(chk, ref, op, &B, &R)) {
                fprintf(stderr, "bench_update: %s %s disagrees with the reference\n", op_names[op],
                        difu_isa_name(isas[k]));
                return 1;
            }
            difu_engine_destroy(chk);
            for (int s = 0; s < nsizes; s++)
                for (int t = 0; t < nthreads; t++) {
                    difu_engine *e = bench_make_engine("bench_update", isas[k], threads[t]);
                    double sec = time_op(e, op, sizes[s], &B, reps);
                    printf("%-12s %10lld %-7s %3d %10.3f %9.3f %8.2f\n", op_names[op],
                           (long long)sizes[s], difu_isa_name(isas[k]), threads[t], 1e3 * sec,
                           (double)sizes[s] / sec * 1e-9,
                           (double)sizes[s] * op_bytes[op] / sec * 1e-9);
                    fflush(stdout);
                    difu_engine_destroy(e);
                }
        }
    }
    difu_engine_destroy(ref);
    free(B.a);
    free(B.b);
    free(B.c);
    free(B.d);
    free(B.f);
    free(R.a);
    free(R.b);
    free(R.c);
    free(R.d);
    free(R.f);
    return sink == -1.0; /* keeps the sums alive */
}
