/* test_randn.c: the counter-based Gaussian generator: Philox4x32-10 known answers, SIMD Philox
 * words equal to the scalar ones, every ISA's noise against the reference and against libm,
 * moments and a Kolmogorov-Smirnov test against N(0, 1), independence from offsets, splits and
 * thread count, and argument checks. White-box: reads the engine's kernel table for the raw words
 * and the offset entry point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "engine_internal.h"
#include "ref/philox_ref.h"
#include "test_util.h"

#define TWO_PI 6.283185307179586476925

/* Distance in units in the last place between two finite floats. */
static int64_t ulp_diff(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia;
    int64_t lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

/* ---------------------------------------------------------------- Philox known answers */

typedef struct kat {
    uint32_t ctr[4], key[2], want[4];
} kat;

/* Random123's kat_vectors for philox4x32_10. */
static const kat KATS[3] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

Test(randn, philox_scalar_known_answers)
{
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        difu_philox4x32_10(KATS[i].ctr, KATS[i].key, out);
        for (int l = 0; l < 4; l++)
            cr_assert_eq(out[l], KATS[i].want[l], "vector %d word %d: got %08x want %08x", i, l,
                         out[l], KATS[i].want[l]);
    }
}

/* The same vectors through every ISA's randn_bits: counter {block, stream, step lo, step hi},
 * key {seed lo, seed hi}. */
Test(randn, philox_known_answers_on_every_isa)
{
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (int i = 0; i < 3; i++) {
            const kat *v = &KATS[i];
            uint64_t step = v->ctr[2] | (uint64_t)v->ctr[3] << 32;
            uint64_t seed = v->key[0] | (uint64_t)v->key[1] << 32;
            uint32_t out[4];
            e->kernels.randn_bits(seed, step, v->ctr[1], (int64_t)v->ctr[0] * 4, 4, out);
            for (int l = 0; l < 4; l++)
                cr_assert_eq(out[l], v->want[l], "%s vector %d word %d: got %08x want %08x",
                             difu_isa_name(isas[k]), i, l, out[l], v->want[l]);
        }
        difu_engine_destroy(e);
    }
}

/* SIMD Philox words equal the scalar ones for any offset and length (tails, unaligned starts). */
Test(randn, simd_philox_words_are_bit_exact)
{
    static const int64_t lens[] = {1, 3, 17, 31, 33, 64, 65, 1001};
    static const int64_t offs[] = {0, 1, 2, 3, 5, 4096 + 7};
    uint32_t got[1001], want[1001];
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++)
            for (size_t b = 0; b < sizeof offs / sizeof offs[0]; b++) {
                int64_t n = lens[a], off = offs[b];
                uint64_t seed = 0x0123456789abcdefull, step = 0xfedcba9876543210ull;
                e->kernels.randn_bits(seed, step, 77, off, n, got);
                for (int64_t i = 0; i < n; i++) {
                    uint32_t w[4];
                    int64_t j = off + i;
                    difu_philox_block(seed, step, 77, (uint32_t)(j >> 2), w);
                    want[i] = w[j & 3];
                }
                for (int64_t i = 0; i < n; i++)
                    cr_assert_eq(got[i], want[i], "%s n=%lld offset=%lld index %lld: %08x vs %08x",
                                 difu_isa_name(isas[k]), (long long)n, (long long)off,
                                 (long long)i, got[i], want[i]);
            }
        difu_engine_destroy(e);
    }
}

/* ---------------------------------------------------------------- values */

/* Every ISA against the reference, at odd lengths and offsets. The SIMD transcendental code is the
 * reference's operation for operation (fmaf = vfmadd), so the bits must be equal. */
Test(randn, every_isa_matches_the_reference)
{
    static const int64_t lens[] = {1, 3, 17, 1001, 4099};
    static const int64_t offs[] = {0, 1, 3, 6, 1000003};
    float *ref = tu_alloc(4099), *got = tu_alloc(4099);
    difu_engine *er = tu_engine(DIFU_ISA_REF, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 1; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        int64_t worst = 0;
        for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++)
            for (size_t b = 0; b < sizeof offs / sizeof offs[0]; b++) {
                int64_t n = lens[a], off = offs[b];
                er->kernels.randn(42, 9, 3, off, n, ref);
                e->kernels.randn(42, 9, 3, off, n, got);
                for (int64_t i = 0; i < n; i++) {
                    int64_t d = ulp_diff(got[i], ref[i]);
                    cr_assert(d == 0, "%s n=%lld offset=%lld index %lld: %.9g vs %.9g (%lld ulp)",
                              difu_isa_name(isas[k]), (long long)n, (long long)off, (long long)i,
                              got[i], ref[i], (long long)d);
                    worst = d > worst ? d : worst;
                }
            }
        cr_log_info("randn %s vs ref: worst %lld ulp", difu_isa_name(isas[k]), (long long)worst);
        difu_engine_destroy(e);
    }
    difu_engine_destroy(er);
    tu_free(ref);
    tu_free(got);
}

/* The approximations against libm in double, from the same Philox words. */
Test(randn, values_match_box_muller_in_double)
{
    enum { N = 1 << 16 };
    uint32_t *w = malloc(N * sizeof *w);
    float *z = tu_alloc(N);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        e->kernels.randn_bits(5, 6, 7, 0, N, w);
        cr_assert_eq(difu_randn(e, 5, 6, 7, z, N), DIFU_OK);
        double worst = 0;
        for (int i = 0; i < N; i += 2) {
            double u1 = ((w[i] >> 9) + 0.5) / 8388608.0, u2 = ((w[i + 1] >> 9) + 0.5) / 8388608.0;
            double r = sqrt(-2.0 * log(u1));
            double want[2] = {r * cos(TWO_PI * u2), r * sin(TWO_PI * u2)};
            for (int l = 0; l < 2; l++) {
                double err = fabs(z[i + l] - want[l]) / (r > 1 ? r : 1);
                worst = err > worst ? err : worst;
                cr_assert(err < 3e-7, "%s element %d: %.9g vs libm %.9g (r %.4g)",
                          difu_isa_name(isas[k]), i + l, z[i + l], want[l], r);
            }
        }
        cr_log_info("randn %s vs libm: worst error %.3g (relative to max(r,1))",
                    difu_isa_name(isas[k]), worst);
        difu_engine_destroy(e);
    }
    free(w);
    tu_free(z);
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* 1e6 samples: mean, variance, skewness and kurtosis within 5 standard errors, adjacent values
 * uncorrelated (both members of a Box-Muller pair, and across pairs), and the KS distance to
 * N(0, 1) below the 1% critical value 1.63 / sqrt(n). */
Test(randn, moments_and_ks_against_the_normal)
{
    enum { N = 1000000 };
    float *z = tu_alloc(N);
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    cr_assert_eq(difu_randn(e, 2024, 1, 0, z, N), DIFU_OK);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, c01 = 0, c12 = 0;
    float zmax = 0;
    for (int i = 0; i < N; i++) {
        double x = z[i];
        s1 += x;
        s2 += x * x;
        s3 += x * x * x;
        s4 += x * x * x * x;
        zmax = fabsf(z[i]) > zmax ? fabsf(z[i]) : zmax;
        if (i + 1 < N && i % 2 == 0)
            c01 += x * z[i + 1];
        else if (i + 1 < N)
            c12 += x * z[i + 1];
    }
    double mean = s1 / N, var = s2 / N - mean * mean, m3 = s3 / N, m4 = s4 / N;
    cr_log_info("randn moments: mean %.5f var %.5f m3 %.5f m4 %.5f max |z| %.3f", mean, var, m3,
                m4, zmax);
    cr_assert(fabs(mean) < 5 / sqrt(N), "mean %g", mean);
    cr_assert(fabs(var - 1) < 5 * sqrt(2.0 / N), "variance %g", var);
    cr_assert(fabs(m3) < 5 * sqrt(15.0 / N), "third moment %g", m3);
    cr_assert(fabs(m4 - 3) < 5 * sqrt(96.0 / N), "fourth moment %g", m4);
    cr_assert(fabs(c01 / (N / 2)) < 5 / sqrt(N / 2), "pair correlation %g", c01 / (N / 2));
    cr_assert(fabs(c12 / (N / 2)) < 5 / sqrt(N / 2), "cross-pair correlation %g", c12 / (N / 2));
    cr_assert(zmax < 5.8f, "largest |z| %g is beyond the 23-bit uniform's 5.77", zmax);
    qsort(z, N, sizeof *z, cmp_float);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double f = normal_cdf(z[i]);
        double lo = f - (double)i / N, hi = (double)(i + 1) / N - f;
        d = fmax(d, fmax(lo, hi));
    }
    cr_log_info("randn KS distance %.3g (1%% critical %.3g)", d, 1.63 / sqrt(N));
    cr_assert(d < 1.63 / sqrt(N), "KS distance %g", d);
    difu_engine_destroy(e);
    tu_free(z);
}

/* Different seeds, steps and streams give different noise (no key or counter word is dropped). */
Test(randn, every_key_and_counter_word_matters)
{
    enum { N = 64 };
    float base[N], other[N];
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    const uint64_t seed = 0x100000001ull, step = 0x300000002ull, stream = 4;
    cr_assert_eq(difu_randn(e, seed, step, stream, base, N), DIFU_OK);
    const uint64_t v[6][3] = {{seed ^ 1, step, stream}, {seed ^ (1ull << 32), step, stream},
                              {seed, step ^ 1, stream}, {seed, step ^ (1ull << 32), stream},
                              {seed, step, stream ^ 1}, {seed, step, stream}};
    for (int c = 0; c < 6; c++) {
        cr_assert_eq(difu_randn(e, v[c][0], v[c][1], v[c][2], other, N), DIFU_OK);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += memcmp(&base[i], &other[i], 4) == 0;
        if (c < 5)
            cr_assert(same == 0, "variant %d shares %d of %d values", c, same, N);
        else
            cr_assert(same == N, "the same key gave different values");
    }
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- determinism */

/* Element j depends only on (seed, step, stream, j): pieces at offsets give one call's values,
 * and a shorter call is a prefix of a longer one. */
Test(randn, offset_splits_give_the_same_values)
{
    enum { N = 1001 };
    static const int64_t cuts[] = {0, 1, 4, 5, 17, 49, 130, 131, 500, 999, N};
    float whole[N], parts[N], prefix[100];
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        cr_assert_eq(difu_randn(e, 11, 12, 13, whole, N), DIFU_OK);
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
            e->kernels.randn(11, 12, 13, cuts[c], cuts[c + 1] - cuts[c], parts + cuts[c]);
        cr_assert(memcmp(whole, parts, sizeof whole) == 0, "%s: split differs",
                  difu_isa_name(isas[k]));
        cr_assert_eq(difu_randn(e, 11, 12, 13, prefix, 100), DIFU_OK);
        cr_assert(memcmp(whole, prefix, sizeof prefix) == 0, "%s: prefix differs",
                  difu_isa_name(isas[k]));
        difu_engine_destroy(e);
    }
}

Test(randn, one_and_two_threads_are_bit_identical)
{
    enum { N = 3 * 16384 + 1001 };
    float *a = tu_alloc(N), *b = tu_alloc(N);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e1 = tu_engine(isas[k], 1), *e2 = tu_engine(isas[k], 2);
        cr_assert_eq(difu_randn(e1, 1, 2, 3, a, N), DIFU_OK);
        cr_assert_eq(difu_randn(e2, 1, 2, 3, b, N), DIFU_OK);
        cr_assert(memcmp(a, b, N * sizeof *a) == 0, "%s: 1 and 2 threads differ",
                  difu_isa_name(isas[k]));
        difu_engine_destroy(e1);
        difu_engine_destroy(e2);
    }
    tu_free(a);
    tu_free(b);
}

/* ---------------------------------------------------------------- arguments */

Test(randn, bad_arguments_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float x[4];
    cr_assert_eq(difu_randn(e, 0, 0, 0, x, -1), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "randn") &&
                  strstr(difu_engine_last_error(e), "-1"),
              "message: %s", difu_engine_last_error(e));
    cr_assert_eq(difu_randn(e, 0, 0, 0, NULL, 4), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "dst is NULL"), "message: %s",
              difu_engine_last_error(e));
    cr_assert_eq(difu_randn(e, 0, 0, 1ull << 32, x, 4), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "4294967296"), "message: %s",
              difu_engine_last_error(e));
    cr_assert_eq(difu_randn(e, 0, 0, 0, NULL, 0), DIFU_OK);
    cr_assert_eq(difu_randn(NULL, 0, 0, 0, x, 4), DIFU_ERR_INVALID_ARG);
    difu_engine_destroy(e);
}
