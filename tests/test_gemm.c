/* test_gemm.c: the GEMM family: the reference GEMM against a naive formula; every micro-kernel
 * against scalar sums; the packed driver on every micro-kernel (the plain-C one included) against
 * the reference on full tiles, tails, size 1, odd primes, both transposes, alpha/beta, batches and
 * k past one cache block; 1 vs 2 threads bit-identical; bad arguments give messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "engine_internal.h"
#include "gemm_conv.h"
#include "test_util.h"

/* Variants: 0 = the packed driver on the plain-C micro-kernel, then each runnable SIMD ISA. */
static int variants(difu_isa *isas)
{
    difu_isa all[DIFU_ISA_COUNT];
    int n = tu_runnable_isas(all), count = 0;
    isas[count++] = DIFU_ISA_REF;
    for (int i = 0; i < n; i++)
        if (all[i] != DIFU_ISA_REF)
            isas[count++] = all[i];
    return count;
}

/* An engine running the packed drivers on the micro-kernel of isa (ref: the plain-C one). */
static difu_engine *variant_engine(difu_isa isa, int threads)
{
    difu_engine *e = tu_engine(isa, threads);
    if (isa == DIFU_ISA_REF) {
        size_t before = e->kernels.scratch_per_thread;
        difu_register_gemm_conv_packed(&e->kernels, &e->kernels.gemm_ukernel);
        cr_assert_leq(e->kernels.scratch_per_thread, before, "scratch grew after creation");
    }
    cr_assert_eq(e->kernels.gemm_ukernel.isa, isa);
    return e;
}

/* The naive formula, written here independently of kernels/ref. */
static void naive_gemm(const difu_gemm_desc *d, const float *a, const float *b, float *c)
{
    for (int bi = 0; bi < d->batch; bi++)
        for (int i = 0; i < d->m; i++)
            for (int j = 0; j < d->n; j++) {
                double s = 0;
                for (int p = 0; p < d->k; p++) {
                    double av = d->trans_a ? a[bi * d->stride_a + (int64_t)p * d->lda + i]
                                           : a[bi * d->stride_a + (int64_t)i * d->lda + p];
                    double bv = d->trans_b ? b[bi * d->stride_b + (int64_t)j * d->ldb + p]
                                           : b[bi * d->stride_b + (int64_t)p * d->ldb + j];
                    s += av * bv;
                }
                float *cv = &c[bi * d->stride_c + (int64_t)i * d->ldc + j];
                *cv = (float)(d->alpha * s + (d->beta != 0.0f ? d->beta * (double)*cv : 0.0));
            }
}

typedef struct gemm_case {
    int m, n, k, ta, tb, batch, pad;
    float alpha, beta;
} gemm_case;

static difu_gemm_desc make_desc(const gemm_case *t)
{
    difu_gemm_desc d = {.m = t->m, .n = t->n, .k = t->k, .trans_a = t->ta, .trans_b = t->tb,
                        .batch = t->batch, .alpha = t->alpha, .beta = t->beta};
    d.lda = (t->ta ? t->m : t->k) + t->pad;
    d.ldb = (t->tb ? t->k : t->n) + t->pad;
    d.ldc = t->n + t->pad;
    d.stride_a = (int64_t)d.lda * (t->ta ? t->k : t->m) + t->pad;
    d.stride_b = (int64_t)d.ldb * (t->tb ? t->n : t->k) + t->pad;
    d.stride_c = (int64_t)d.ldc * t->m + t->pad;
    return d;
}

static const gemm_case cases[] = {
    {1, 1, 1, 0, 0, 1, 0, 1.0f, 0.0f},      {6, 16, 8, 0, 0, 1, 0, 1.0f, 0.0f},
    {8, 32, 16, 0, 0, 1, 0, 1.0f, 1.0f},    {24, 64, 37, 0, 0, 1, 0, 1.0f, 0.0f},
    {7, 13, 5, 1, 0, 1, 3, 1.0f, 0.0f},     {13, 17, 19, 0, 1, 2, 1, 0.5f, -0.7f},
    {37, 41, 263, 1, 1, 1, 2, 1.0f, 1.0f},  {5, 3, 600, 0, 0, 3, 0, -2.0f, 0.0f},
    {49, 49, 64, 1, 0, 3, 0, 0.125f, 0.0f}, {130, 35, 11, 0, 1, 1, 0, 1.0f, 2.0f},
    {2, 150, 3, 0, 0, 5, 4, 1.0f, 0.0f},
};

static void fill_case(const difu_gemm_desc *d, float **a, float **b, float **c, size_t *na,
                      size_t *nb, size_t *nc)
{
    *na = (size_t)(d->stride_a * d->batch + d->lda * 2);
    *nb = (size_t)(d->stride_b * d->batch + d->ldb * 2);
    *nc = (size_t)(d->stride_c * d->batch);
    *a = tu_alloc(*na);
    *b = tu_alloc(*nb);
    *c = tu_alloc(*nc);
    tu_fill_uniform(*a, *na, 11, -1, 1);
    tu_fill_uniform(*b, *nb, 12, -1, 1);
    tu_fill_uniform(*c, *nc, 13, -1, 1);
}

Test(gemm, reference_matches_naive_formula)
{
    difu_engine *e = tu_engine(DIFU_ISA_REF, 1);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        difu_gemm_desc d = make_desc(&cases[t]);
        float *a, *b, *c;
        size_t na, nb, nc;
        fill_case(&d, &a, &b, &c, &na, &nb, &nc);
        float *want = tu_alloc(nc);
        memcpy(want, c, nc * sizeof(float));
        naive_gemm(&d, a, b, want);
        cr_assert_eq(difu_gemm(e, &d, a, b, c), DIFU_OK, "%s", difu_engine_last_error(e));
        tu_assert_close("gemm_ref vs naive", c, want, nc, 1e-5, 1e-5);
        tu_free(a), tu_free(b), tu_free(c), tu_free(want);
    }
    difu_engine_destroy(e);
}

Test(gemm, micro_kernels_match_scalar_sums)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nv = variants(isas);
    for (int v = 0; v < nv; v++) {
        difu_engine *e = variant_engine(isas[v], 1);
        const difu_gemm_ukernel *u = &e->kernels.gemm_ukernel;
        int kc = 29, ldc = u->nr + 3;
        float *a = tu_alloc((size_t)kc * u->mr), *b = tu_alloc((size_t)kc * u->nr);
        float *c = tu_alloc((size_t)u->mr * ldc), *want = tu_alloc((size_t)u->mr * ldc);
        tu_fill_uniform(a, (size_t)kc * u->mr, 1, -1, 1);
        tu_fill_uniform(b, (size_t)kc * u->nr, 2, -1, 1);
        for (int acc = 0; acc < 2; acc++) {
            tu_fill_uniform(c, (size_t)u->mr * ldc, 3, -1, 1);
            for (int i = 0; i < u->mr; i++)
                for (int j = 0; j < ldc; j++) {
                    double s = 0;
                    for (int p = 0; p < kc && j < u->nr; p++) /* b has nr columns */
                        s += (double)a[p * u->mr + i] * b[p * u->nr + j];
                    want[i * ldc + j] = j >= u->nr ? c[i * ldc + j]
                                                   : (float)(s + (acc ? c[i * ldc + j] : 0.0));
                }
            u->fn(kc, a, b, c, ldc, acc);
            tu_assert_close(u->name, c, want, (size_t)u->mr * ldc, 1e-5, 1e-5);
        }
        tu_free(a), tu_free(b), tu_free(c), tu_free(want);
        difu_engine_destroy(e);
    }
}

Test(gemm, every_variant_matches_reference_at_1_and_2_threads)
{
    difu_engine *ref = tu_engine(DIFU_ISA_REF, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int nv = variants(isas);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        difu_gemm_desc d = make_desc(&cases[t]);
        float *a, *b, *c0;
        size_t na, nb, nc;
        fill_case(&d, &a, &b, &c0, &na, &nb, &nc);
        float *want = tu_alloc(nc), *got = tu_alloc(nc), *got1 = tu_alloc(nc);
        memcpy(want, c0, nc * sizeof(float));
        cr_assert_eq(difu_gemm(ref, &d, a, b, want), DIFU_OK);
        for (int v = 0; v < nv; v++)
            for (int th = 1; th <= 2; th++) {
                difu_engine *e = variant_engine(isas[v], th);
                memcpy(got, c0, nc * sizeof(float));
                cr_assert_eq(difu_gemm(e, &d, a, b, got), DIFU_OK, "%s",
                             difu_engine_last_error(e));
                char what[128];
                snprintf(what, sizeof what, "gemm %s threads %d case %zu (m=%d n=%d k=%d)",
                         difu_isa_name(isas[v]), th, t, d.m, d.n, d.k);
                tu_assert_close(what, got, want, nc, 1e-4, 1e-4);
                if (th == 1)
                    memcpy(got1, got, nc * sizeof(float));
                else
                    cr_assert(memcmp(got1, got, nc * sizeof(float)) == 0,
                              "%s: 1 and 2 threads differ", what);
                difu_engine_destroy(e);
            }
        tu_free(a), tu_free(b), tu_free(c0), tu_free(want), tu_free(got), tu_free(got1);
    }
    difu_engine_destroy(ref);
}

Test(gemm, beta_zero_overwrites_nan)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int nv = variants(isas);
    gemm_case t = {9, 20, 7, 0, 0, 1, 0, 1.0f, 0.0f};
    difu_gemm_desc d = make_desc(&t);
    for (int v = 0; v < nv; v++) {
        difu_engine *e = variant_engine(isas[v], 2);
        float *a, *b, *c;
        size_t na, nb, nc;
        fill_case(&d, &a, &b, &c, &na, &nb, &nc);
        for (size_t i = 0; i < nc; i++)
            c[i] = NAN;
        cr_assert_eq(difu_gemm(e, &d, a, b, c), DIFU_OK);
        for (size_t i = 0; i < nc; i++)
            cr_assert(isfinite(c[i]), "%s: NaN kept at %zu", difu_isa_name(isas[v]), i);
        tu_free(a), tu_free(b), tu_free(c);
        difu_engine_destroy(e);
    }
}

static void expect_fail(difu_engine *e, const difu_gemm_desc *d, const float *p, const char *part)
{
    float one[4] = {0};
    const float *a = p ? p : one;
    cr_assert_eq(difu_gemm(e, d, a, one, one), DIFU_ERR_INVALID_ARG,
                 "expected a failure mentioning '%s'", part);
    cr_assert(strstr(difu_engine_last_error(e), part), "message was: %s",
              difu_engine_last_error(e));
    cr_assert(strstr(difu_engine_last_error(e), "gemm"), "message was: %s",
              difu_engine_last_error(e));
}

Test(gemm, bad_arguments_give_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    gemm_case t = {2, 2, 2, 0, 0, 1, 0, 1.0f, 0.0f};
    difu_gemm_desc d = make_desc(&t);
    difu_gemm_desc bad = d;
    bad.m = 0;
    expect_fail(e, &bad, NULL, "m=0");
    bad = d;
    bad.k = -3;
    expect_fail(e, &bad, NULL, "k=-3");
    bad = d;
    bad.trans_a = 2;
    expect_fail(e, &bad, NULL, "trans_a=2");
    bad = d;
    bad.lda = 1;
    expect_fail(e, &bad, NULL, "lda=1");
    bad = d;
    bad.batch = 2;
    bad.stride_c = 1;
    expect_fail(e, &bad, NULL, "c=1");
    bad = d;
    bad.batch = 1 << 30;
    bad.stride_a = (int64_t)1 << 40;
    expect_fail(e, &bad, NULL, "overflows");
    cr_assert_eq(difu_gemm(e, NULL, NULL, NULL, NULL), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "gemm: the descriptor is NULL"));
    float buf[8] = {0};
    cr_assert_eq(difu_gemm(e, &d, buf, NULL, buf), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "NULL buffer"), "message was: %s",
              difu_engine_last_error(e));
    difu_engine_destroy(e);
}
