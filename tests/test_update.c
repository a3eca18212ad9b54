/* test_update.c: the fused update arithmetic: q_sample, the reverse sampler step (DDPM ancestral
 * and DDIM against closed-form formulas in double), Adam/AdamW + EMA against a double
 * re-implementation, sum of squares against a long-double sum; every ISA against the reference at
 * odd lengths and offsets, 1 vs 2 threads bit-identical, and argument checks with messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "engine_internal.h"
#include "test_util.h"

static const int64_t ODD[] = {1, 3, 17, 1001};
#define N_ODD 4

#define CHECK_MSG(e, text)                                                                     \
    cr_assert(strstr(difu_engine_last_error(e), text), "message '%s' lacks '%s'",             \
              difu_engine_last_error(e), text)

/* ---------------------------------------------------------------- q_sample */

Test(q_sample, matches_the_formula_and_the_noise_streams)
{
    const int images = 3;
    const uint64_t first = 5;
    const float a[3] = {0.9f, 0.5f, 0.01f}, b[3] = {0.43589f, 0.8660254f, 0.99995f};
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 2);
        for (int s = 0; s < N_ODD; s++) {
            int64_t per = ODD[s], n = images * per;
            float *x0 = tu_alloc(n), *eps = tu_alloc(n), *xt = tu_alloc(n), *z = tu_alloc(per);
            tu_fill_uniform(x0, n, 7 + s, -1, 1);
            cr_assert_eq(difu_q_sample(e, images, per, x0, a, b, 99, 4, first, eps, xt), DIFU_OK,
                         "%s", difu_engine_last_error(e));
            for (int i = 0; i < images; i++) {
                cr_assert_eq(difu_randn(e, 99, 4, first + i, z, per), DIFU_OK);
                cr_assert(memcmp(z, eps + i * per, per * sizeof *z) == 0,
                          "%s per_image %lld: eps of image %d is not stream %llu",
                          difu_isa_name(isas[k]), (long long)per, i,
                          (unsigned long long)(first + i));
                for (int64_t j = 0; j < per; j++) {
                    double want = (double)a[i] * x0[i * per + j] + (double)b[i] * z[j];
                    cr_assert(fabs(xt[i * per + j] - want) <= 1e-6 * (1 + fabs(want)),
                              "%s image %d element %lld: %.9g vs %.9g", difu_isa_name(isas[k]), i,
                              (long long)j, xt[i * per + j], want);
                }
            }
            tu_free(x0);
            tu_free(eps);
            tu_free(xt);
            tu_free(z);
        }
        difu_engine_destroy(e);
    }
}

/* Kernel level: every ISA against the reference at odd lengths and unaligned offsets. */
Test(q_sample, every_isa_matches_the_reference)
{
    static const int64_t offs[] = {0, 1, 2, 7, 4099};
    float *x0 = tu_alloc(1001), *e_ref = tu_alloc(1001), *x_ref = tu_alloc(1001);
    float *e_got = tu_alloc(1001), *x_got = tu_alloc(1001);
    tu_fill_uniform(x0, 1001, 3, -1, 1);
    difu_engine *er = tu_engine(DIFU_ISA_REF, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 1; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (int s = 0; s < N_ODD; s++)
            for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
                int64_t n = ODD[s];
                er->kernels.q_sample(n, x0, 0.7f, -0.3f, 1, 2, 3, offs[o], e_ref, x_ref);
                e->kernels.q_sample(n, x0, 0.7f, -0.3f, 1, 2, 3, offs[o], e_got, x_got);
                cr_assert(memcmp(e_got, e_ref, n * sizeof *e_got) == 0,
                          "%s: eps differs from the reference noise", difu_isa_name(isas[k]));
                tu_assert_close("q_sample xt", x_got, x_ref, n, 1e-7, 1e-6);
            }
        difu_engine_destroy(e);
    }
    difu_engine_destroy(er);
    tu_free(x0);
    tu_free(e_ref);
    tu_free(x_ref);
    tu_free(e_got);
    tu_free(x_got);
}

Test(q_sample, one_and_two_threads_are_bit_identical)
{
    const int images = 3;
    const int64_t per = 20001, n = images * per;
    const float a[3] = {0.1f, 0.2f, 0.3f}, b[3] = {0.9f, 0.8f, 0.7f};
    float *x0 = tu_alloc(n), *e1 = tu_alloc(n), *x1 = tu_alloc(n), *e2 = tu_alloc(n),
          *x2 = tu_alloc(n);
    tu_fill_uniform(x0, n, 1, -1, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *t1 = tu_engine(isas[k], 1), *t2 = tu_engine(isas[k], 2);
        cr_assert_eq(difu_q_sample(t1, images, per, x0, a, b, 8, 9, 0, e1, x1), DIFU_OK);
        cr_assert_eq(difu_q_sample(t2, images, per, x0, a, b, 8, 9, 0, e2, x2), DIFU_OK);
        cr_assert(memcmp(e1, e2, n * sizeof *e1) == 0 && memcmp(x1, x2, n * sizeof *x1) == 0,
                  "%s: 1 and 2 threads differ", difu_isa_name(isas[k]));
        difu_engine_destroy(t1);
        difu_engine_destroy(t2);
    }
    tu_free(x0);
    tu_free(e1);
    tu_free(x1);
    tu_free(e2);
    tu_free(x2);
}

Test(q_sample, bad_arguments_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float x0[4] = {0}, eps[4], xt[4], a[1] = {1}, b[1] = {0}, bad[1] = {NAN};
    cr_assert_eq(difu_q_sample(e, 0, 4, x0, a, b, 0, 0, 0, eps, xt), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "q_sample: images must be positive, got 0");
    cr_assert_eq(difu_q_sample(e, 1, -3, x0, a, b, 0, 0, 0, eps, xt), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "got -3");
    cr_assert_eq(difu_q_sample(e, 1, 4, x0, a, b, 0, 0, 0, NULL, xt), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "eps (nil)");
    cr_assert_eq(difu_q_sample(e, 1, 4, x0, a, bad, 0, 0, 0, eps, xt), DIFU_ERR_NUMERIC);
    CHECK_MSG(e, "b = nan");
    cr_assert_eq(difu_q_sample(e, 1, 4, x0, a, b, 0, 0, 0xffffffffull + 1, eps, xt),
                 DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "4294967296");
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- sampler step */

/* The DDPM linear schedule of MODEL.md in double: beta_t, alpha_bar_t for t in [0, 1000). */
typedef struct schedule {
    double beta[1000], ab[1000];
} schedule;

static void make_schedule(schedule *s)
{
    double prod = 1;
    for (int t = 0; t < 1000; t++) {
        s->beta[t] = 1e-4 + (0.02 - 1e-4) * t / 999.0;
        prod *= 1 - s->beta[t];
        s->ab[t] = prod;
    }
}

static double clampd(double x) { return x < -1 ? -1 : x > 1 ? 1 : x; }

/* Runs difu_sampler_step on 2 images of `per` elements and returns x (caller frees) and z, the
 * noise of the same streams drawn with difu_randn. */
static float *run_step(difu_engine *e, const difu_sampler_coefs *c, const float *x_in,
                       const float *eps, int64_t per, float *z)
{
    float *x = tu_alloc(2 * per);
    memcpy(x, x_in, 2 * per * sizeof *x);
    cr_assert_eq(difu_sampler_step(e, 2, per, c, eps, 31, 600, 10, x), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(difu_randn(e, 31, 600, 10, z, per), DIFU_OK);
    cr_assert_eq(difu_randn(e, 31, 600, 11, z + per, per), DIFU_OK);
    return x;
}

static void check_step(const char *what, difu_isa isa, const float *got, const double *want,
                       int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= 2e-5 * (1 + fabs(want[i])),
                  "%s (%s) element %lld: %.9g vs closed form %.9g", what, difu_isa_name(isa),
                  (long long)i, got[i], want[i]);
}

/* DDPM ancestral: x_{t-1} = (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(alpha_t) + sigma z with the
 * posterior variance (MODEL.md), and with clipping the posterior mean
 * mu = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t. */
Test(sampler_step, ddpm_ancestral_is_the_posterior)
{
    schedule *s = malloc(sizeof *s);
    make_schedule(s);
    const int t = 600;
    const int64_t per = 1001, n = 2 * per;
    double ab = s->ab[t], abp = s->ab[t - 1], beta = s->beta[t], alpha = 1 - beta;
    double var = beta * (1 - abp) / (1 - ab);
    float *x = tu_alloc(n), *eps = tu_alloc(n), *z = tu_alloc(n);
    double *want = malloc(n * sizeof *want);
    tu_fill_uniform(x, n, 5, -3, 3);
    tu_fill_uniform(eps, n, 6, -2, 2);
    difu_sampler_coefs c = {
        .c_x0_xt = (float)(1 / sqrt(ab)), .c_x0_eps = (float)sqrt(1 / ab - 1),
        .sqrt_ab = (float)sqrt(ab), .sqrt_1mab = (float)sqrt(1 - ab),
        .c_x0 = (float)(sqrt(abp) * beta / (1 - ab)),
        .c_xt = (float)(sqrt(alpha) * (1 - abp) / (1 - ab)),
        .c_dir = 0, .sigma = (float)sqrt(var), .clip_x0 = 0};
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 2);
        c.clip_x0 = 0;
        float *got = run_step(e, &c, x, eps, per, z);
        for (int64_t i = 0; i < n; i++)
            want[i] = (x[i] - beta / sqrt(1 - ab) * eps[i]) / sqrt(alpha) + sqrt(var) * z[i];
        check_step("ddpm", isas[k], got, want, n);
        tu_free(got);
        c.clip_x0 = 1;
        got = run_step(e, &c, x, eps, per, z);
        int clipped = 0;
        for (int64_t i = 0; i < n; i++) {
            double x0 = (x[i] - sqrt(1 - ab) * eps[i]) / sqrt(ab);
            clipped += fabs(x0) > 1;
            want[i] = sqrt(abp) * beta / (1 - ab) * clampd(x0) +
                      sqrt(alpha) * (1 - abp) / (1 - ab) * x[i] + sqrt(var) * z[i];
        }
        cr_assert(clipped > n / 4 && clipped < n, "the inputs should clip some x0 (%d)", clipped);
        check_step("ddpm clipped", isas[k], got, want, n);
        tu_free(got);
        difu_engine_destroy(e);
    }
    free(s);
    free(want);
    tu_free(x);
    tu_free(eps);
    tu_free(z);
}

/* DDIM (Song et al. 2021, eq. 12) from t to t' < t:
 * x' = sqrt(ab') x0 + sqrt(1 - ab' - sigma^2) eps_x0 + sigma z,
 * sigma = eta sqrt((1 - ab') / (1 - ab)) sqrt(1 - ab / ab'), eps_x0 the eps consistent with x0. */
Test(sampler_step, ddim_is_the_song_update)
{
    schedule *s = malloc(sizeof *s);
    make_schedule(s);
    const int t = 600, tp = 580;
    const int64_t per = 17, n = 2 * per;
    double ab = s->ab[t], abp = s->ab[tp];
    float *x = tu_alloc(n), *eps = tu_alloc(n), *z = tu_alloc(n);
    double *want = malloc(n * sizeof *want);
    tu_fill_uniform(x, n, 8, -3, 3);
    tu_fill_uniform(eps, n, 9, -2, 2);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (int eta = 0; eta <= 1; eta++)
            for (int clip = 0; clip <= 1; clip++) {
                double sigma = eta * sqrt((1 - abp) / (1 - ab)) * sqrt(1 - ab / abp);
                double cdir = sqrt(1 - abp - sigma * sigma);
                difu_sampler_coefs c = {
                    .c_x0_xt = (float)(1 / sqrt(ab)), .c_x0_eps = (float)sqrt(1 / ab - 1),
                    .sqrt_ab = (float)sqrt(ab), .sqrt_1mab = (float)sqrt(1 - ab),
                    .c_x0 = (float)sqrt(abp), .c_xt = 0, .c_dir = (float)cdir,
                    .sigma = (float)sigma, .clip_x0 = clip};
                float *got = run_step(e, &c, x, eps, per, z);
                for (int64_t i = 0; i < n; i++) {
                    double x0 = (x[i] - sqrt(1 - ab) * eps[i]) / sqrt(ab);
                    double e0 = eps[i];
                    if (clip) {
                        x0 = clampd(x0);
                        e0 = (x[i] - sqrt(ab) * x0) / sqrt(1 - ab);
                    }
                    want[i] = sqrt(abp) * x0 + cdir * e0 + sigma * z[i];
                }
                check_step(eta ? (clip ? "ddim eta 1 clipped" : "ddim eta 1")
                               : (clip ? "ddim eta 0 clipped" : "ddim eta 0"),
                           isas[k], got, want, n);
                tu_free(got);
            }
        difu_engine_destroy(e);
    }
    free(s);
    free(want);
    tu_free(x);
    tu_free(eps);
    tu_free(z);
}

/* The identity behind "eta = 1 matches DDPM": for t' = t - 1 the DDIM sigma^2 is beta~_t. */
Test(sampler_step, ddim_eta_one_has_the_ddpm_posterior_variance)
{
    schedule *s = malloc(sizeof *s);
    make_schedule(s);
    for (int t = 1; t < 1000; t += 111) {
        double ab = s->ab[t], abp = s->ab[t - 1];
        double ddim = (1 - abp) / (1 - ab) * (1 - ab / abp);
        double ddpm = s->beta[t] * (1 - abp) / (1 - ab);
        cr_assert(fabs(ddim - ddpm) <= 1e-12 * ddpm, "t %d: %g vs %g", t, ddim, ddpm);
    }
    free(s);
}

/* sigma = 0 draws no noise: the result does not depend on the seed and has no noise term. */
Test(sampler_step, zero_sigma_draws_no_noise)
{
    const int64_t per = 1001;
    float *x = tu_alloc(per), *eps = tu_alloc(per), *a = tu_alloc(per), *b = tu_alloc(per);
    tu_fill_uniform(x, per, 1, -2, 2);
    tu_fill_uniform(eps, per, 2, -2, 2);
    difu_sampler_coefs c = {.c_x0_xt = 1.5f, .c_x0_eps = 0.7f, .sqrt_ab = 0.6f, .sqrt_1mab = 0.8f,
                            .c_x0 = 0.7f, .c_xt = 0.1f, .c_dir = 0.6f, .sigma = 0, .clip_x0 = 1};
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        memcpy(a, x, per * sizeof *x);
        memcpy(b, x, per * sizeof *x);
        cr_assert_eq(difu_sampler_step(e, 1, per, &c, eps, 1, 1, 0, a), DIFU_OK);
        cr_assert_eq(difu_sampler_step(e, 1, per, &c, eps, 2, 5, 3, b), DIFU_OK);
        cr_assert(memcmp(a, b, per * sizeof *a) == 0, "%s: seed changed a noiseless step",
                  difu_isa_name(isas[k]));
        for (int64_t i = 0; i < per; i++) {
            double x0 = clampd(1.5 * x[i] - 0.7 * eps[i]);
            double want = 0.7 * x0 + 0.1 * x[i] + 0.6 * (x[i] - 0.6 * x0) / 0.8;
            cr_assert(fabs(a[i] - want) <= 1e-5 * (1 + fabs(want)), "%s element %lld: %g vs %g",
                      difu_isa_name(isas[k]), (long long)i, a[i], want);
        }
        difu_engine_destroy(e);
    }
    tu_free(x);
    tu_free(eps);
    tu_free(a);
    tu_free(b);
}

Test(sampler_step, every_isa_matches_the_reference)
{
    static const int64_t offs[] = {0, 1, 3, 6, 4099};
    float *x = tu_alloc(1001), *eps = tu_alloc(1001), *ref = tu_alloc(1001), *got = tu_alloc(1001);
    tu_fill_uniform(x, 1001, 11, -3, 3);
    tu_fill_uniform(eps, 1001, 12, -2, 2);
    difu_engine *er = tu_engine(DIFU_ISA_REF, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 1; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (int v = 0; v < 4; v++) {
            difu_sampler_coefs c = {.c_x0_xt = 1.2f, .c_x0_eps = 0.66f, .sqrt_ab = 0.83f,
                                    .sqrt_1mab = 0.557f, .c_x0 = 0.4f, .c_xt = 0.5f,
                                    .c_dir = 0.3f, .sigma = (v & 1) ? 0.2f : 0.0f,
                                    .clip_x0 = v >> 1};
            for (int s = 0; s < N_ODD; s++)
                for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
                    int64_t n = ODD[s];
                    memcpy(ref, x, n * sizeof *x);
                    memcpy(got, x, n * sizeof *x);
                    er->kernels.sampler_step(n, &c, eps, 4, 5, 6, offs[o], ref);
                    e->kernels.sampler_step(n, &c, eps, 4, 5, 6, offs[o], got);
                    tu_assert_close("sampler_step", got, ref, n, 1e-6, 1e-6);
                }
        }
        difu_engine_destroy(e);
    }
    difu_engine_destroy(er);
    tu_free(x);
    tu_free(eps);
    tu_free(ref);
    tu_free(got);
}

Test(sampler_step, one_and_two_threads_are_bit_identical)
{
    const int images = 3;
    const int64_t per = 20001, n = images * per;
    float *x = tu_alloc(n), *eps = tu_alloc(n), *a = tu_alloc(n), *b = tu_alloc(n);
    tu_fill_uniform(x, n, 1, -3, 3);
    tu_fill_uniform(eps, n, 2, -2, 2);
    difu_sampler_coefs c = {.c_x0_xt = 1.2f, .c_x0_eps = 0.66f, .sqrt_ab = 0.83f,
                            .sqrt_1mab = 0.557f, .c_x0 = 0.4f, .c_xt = 0.5f, .c_dir = 0.3f,
                            .sigma = 0.2f, .clip_x0 = 1};
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *t1 = tu_engine(isas[k], 1), *t2 = tu_engine(isas[k], 2);
        memcpy(a, x, n * sizeof *x);
        memcpy(b, x, n * sizeof *x);
        cr_assert_eq(difu_sampler_step(t1, images, per, &c, eps, 3, 4, 5, a), DIFU_OK);
        cr_assert_eq(difu_sampler_step(t2, images, per, &c, eps, 3, 4, 5, b), DIFU_OK);
        cr_assert(memcmp(a, b, n * sizeof *a) == 0, "%s: 1 and 2 threads differ",
                  difu_isa_name(isas[k]));
        difu_engine_destroy(t1);
        difu_engine_destroy(t2);
    }
    tu_free(x);
    tu_free(eps);
    tu_free(a);
    tu_free(b);
}

Test(sampler_step, bad_arguments_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float x[4] = {0}, eps[4] = {0};
    difu_sampler_coefs c = {.c_x0_xt = 1, .c_x0_eps = 0, .sqrt_ab = 1, .sqrt_1mab = 0.5f,
                            .c_x0 = 1, .c_xt = 0, .c_dir = 0, .sigma = 0, .clip_x0 = 0};
    cr_assert_eq(difu_sampler_step(e, -2, 4, &c, eps, 0, 0, 0, x), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "sampler_step: images must be positive, got -2");
    cr_assert_eq(difu_sampler_step(e, 1, 0, &c, eps, 0, 0, 0, x), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "per_image");
    cr_assert_eq(difu_sampler_step(e, 1, 4, NULL, eps, 0, 0, 0, x), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "coefs (nil)");
    difu_sampler_coefs bad = c;
    bad.c_dir = INFINITY;
    cr_assert_eq(difu_sampler_step(e, 1, 4, &bad, eps, 0, 0, 0, x), DIFU_ERR_NUMERIC);
    CHECK_MSG(e, "c_dir is inf");
    bad = c;
    bad.sigma = -0.5f;
    cr_assert_eq(difu_sampler_step(e, 1, 4, &bad, eps, 0, 0, 0, x), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "sigma must be >= 0, got -0.5");
    bad = c;
    bad.clip_x0 = 1;
    bad.sqrt_1mab = 0;
    cr_assert_eq(difu_sampler_step(e, 1, 4, &bad, eps, 0, 0, 0, x), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "clip_x0 needs sqrt_1mab > 0");
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- Adam + EMA */

typedef struct adam_case {
    const char *name;
    float grad_scale, l2, wd;
    int with_ema;
} adam_case;

static const adam_case ADAM_CASES[4] = {
    {"adam", 1.0f, 0.0f, 0.0f, 1},
    {"adam l2, grad_scale 0.5", 0.5f, 0.01f, 0.0f, 1},
    {"adamw", 1.0f, 0.0f, 0.1f, 1},
    {"adamw no ema", 0.25f, 0.0f, 0.05f, 0},
};

static difu_adam_params adam_params(const adam_case *ac, int t)
{
    difu_adam_params p = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .grad_scale = ac->grad_scale, .l2 = ac->l2,
                          .decoupled_wd = ac->wd, .ema_decay = 0.99f};
    p.bc1 = (float)(1 - pow(0.9, t));
    p.bc2 = (float)(1 - pow(0.999, t));
    return p;
}

/* Three steps against the difu.h formula in double, for Adam, L2 + grad scale, AdamW, no EMA. */
Test(adam_ema, matches_the_formula_in_double)
{
    enum { N = 1001 };
    float *p = tu_alloc(N), *g = tu_alloc(N), *m = tu_alloc(N), *v = tu_alloc(N),
          *ema = tu_alloc(N);
    double *dp = malloc(5 * N * sizeof *dp), *dm = dp + N, *dv = dp + 2 * N, *de = dp + 3 * N;
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 2);
        for (int c = 0; c < 4; c++) {
            const adam_case *ac = &ADAM_CASES[c];
            tu_fill_uniform(p, N, 1, -1, 1);
            memset(m, 0, N * sizeof *m);
            memset(v, 0, N * sizeof *v);
            for (int i = 0; i < N; i++) {
                ema[i] = p[i];
                dp[i] = p[i];
                dm[i] = dv[i] = 0;
                de[i] = p[i];
            }
            for (int t = 1; t <= 3; t++) {
                tu_fill_uniform(g, N, 100 + t, -2, 2);
                difu_adam_params ap = adam_params(ac, t);
                cr_assert_eq(difu_adam_ema_step(e, N, &ap, p, g, m, v, ac->with_ema ? ema : NULL),
                             DIFU_OK, "%s", difu_engine_last_error(e));
                /* the float parameters, taken exactly */
                double b1 = ap.beta1, b2 = ap.beta2, lr = ap.lr, eps = ap.eps, d = ap.ema_decay;
                for (int i = 0; i < N; i++) {
                    double gg = (double)ac->grad_scale * g[i] + (double)ac->l2 * dp[i];
                    dm[i] = b1 * dm[i] + (1 - b1) * gg;
                    dv[i] = b2 * dv[i] + (1 - b2) * gg * gg;
                    dp[i] -= lr * (dm[i] / ap.bc1) / (sqrt(dv[i] / ap.bc2) + eps) +
                             lr * (double)ac->wd * dp[i];
                    de[i] = d * de[i] + (1 - d) * dp[i];
                }
            }
            for (int i = 0; i < N; i++) {
                cr_assert(fabs(p[i] - dp[i]) < 2e-6, "%s %s param %d: %.9g vs %.9g",
                          difu_isa_name(isas[k]), ac->name, i, p[i], dp[i]);
                cr_assert(fabs(m[i] - dm[i]) < 1e-6 * (1 + fabs(dm[i])), "%s %s m %d: %.9g vs %.9g",
                          difu_isa_name(isas[k]), ac->name, i, m[i], dm[i]);
                cr_assert(fabs(v[i] - dv[i]) < 1e-5 * fabs(dv[i]) + 1e-12,
                          "%s %s v %d: %.9g vs %.9g", difu_isa_name(isas[k]), ac->name, i, v[i],
                          dv[i]);
                if (ac->with_ema)
                    cr_assert(fabs(ema[i] - de[i]) < 2e-6, "%s %s ema %d: %.9g vs %.9g",
                              difu_isa_name(isas[k]), ac->name, i, ema[i], de[i]);
            }
        }
        difu_engine_destroy(e);
    }
    free(dp);
    tu_free(p);
    tu_free(g);
    tu_free(m);
    tu_free(v);
    tu_free(ema);
}

/* Kernel level: every ISA against the reference at odd lengths, with and without EMA. */
Test(adam_ema, every_isa_matches_the_reference)
{
    enum { N = 1001 };
    float *in = tu_alloc(5 * N), *ref = tu_alloc(5 * N), *got = tu_alloc(5 * N);
    tu_fill_uniform(in, 5 * N, 4, -1, 1);
    for (int i = 0; i < N; i++)
        in[3 * N + i] = fabsf(in[3 * N + i]) * 1e-3f; /* v >= 0 */
    difu_engine *er = tu_engine(DIFU_ISA_REF, 1);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 1; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 1);
        for (int c = 0; c < 4; c++) {
            difu_adam_params ap = adam_params(&ADAM_CASES[c], 7);
            for (int s = 0; s < N_ODD; s++) {
                int64_t n = ODD[s];
                memcpy(ref, in, 5 * N * sizeof *in);
                memcpy(got, in, 5 * N * sizeof *in);
                float *er_ema = ADAM_CASES[c].with_ema ? ref + 4 * N : NULL;
                float *eg_ema = ADAM_CASES[c].with_ema ? got + 4 * N : NULL;
                er->kernels.adam_ema(n, &ap, ref, ref + N, ref + 2 * N, ref + 3 * N, er_ema);
                e->kernels.adam_ema(n, &ap, got, got + N, got + 2 * N, got + 3 * N, eg_ema);
                tu_assert_close("adam param", got, ref, n, 1e-7, 1e-6);
                tu_assert_close("adam m", got + 2 * N, ref + 2 * N, n, 1e-9, 1e-6);
                tu_assert_close("adam v", got + 3 * N, ref + 3 * N, n, 1e-12, 1e-6);
                tu_assert_close("adam ema", got + 4 * N, ref + 4 * N, n, 1e-7, 1e-6);
            }
        }
        difu_engine_destroy(e);
    }
    difu_engine_destroy(er);
    tu_free(in);
    tu_free(ref);
    tu_free(got);
}

Test(adam_ema, one_and_two_threads_are_bit_identical)
{
    enum { N = 3 * 16384 + 1001 };
    float *a = tu_alloc(5 * N), *b = tu_alloc(5 * N);
    difu_adam_params ap = adam_params(&ADAM_CASES[2], 3);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        tu_fill_uniform(a, 5 * N, 9, 0, 1);
        memcpy(b, a, 5 * N * sizeof *a);
        difu_engine *t1 = tu_engine(isas[k], 1), *t2 = tu_engine(isas[k], 2);
        cr_assert_eq(difu_adam_ema_step(t1, N, &ap, a, a + N, a + 2 * N, a + 3 * N, a + 4 * N),
                     DIFU_OK);
        cr_assert_eq(difu_adam_ema_step(t2, N, &ap, b, b + N, b + 2 * N, b + 3 * N, b + 4 * N),
                     DIFU_OK);
        cr_assert(memcmp(a, b, 5 * N * sizeof *a) == 0, "%s: 1 and 2 threads differ",
                  difu_isa_name(isas[k]));
        difu_engine_destroy(t1);
        difu_engine_destroy(t2);
    }
    tu_free(a);
    tu_free(b);
}

Test(adam_ema, bad_arguments_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float p[4] = {0}, g[4] = {0}, m[4] = {0}, v[4] = {0};
    difu_adam_params ok = adam_params(&ADAM_CASES[0], 1), bad;
    cr_assert_eq(difu_adam_ema_step(e, -5, &ok, p, g, m, v, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "adam_ema: n must be >= 0, got -5");
    cr_assert_eq(difu_adam_ema_step(e, 4, &ok, p, NULL, m, v, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "grad (nil)");
    bad = ok;
    bad.lr = NAN;
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, NULL), DIFU_ERR_NUMERIC);
    CHECK_MSG(e, "lr is nan");
    bad = ok;
    bad.beta1 = 1.0f;
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "beta1 = 1");
    bad = ok;
    bad.beta2 = -0.5f;
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "beta2 = -0.5");
    bad = ok;
    bad.bc2 = 0;
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "bc2 = 0");
    bad = ok;
    bad.ema_decay = 1.5f;
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, p), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "ema_decay must be in [0, 1], got 1.5");
    cr_assert_eq(difu_adam_ema_step(e, 4, &bad, p, g, m, v, NULL), DIFU_OK); /* no EMA: unused */
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- sum of squares */

static long double naive_sumsq(const float *x, int64_t n)
{
    long double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (long double)x[i] * x[i];
    return s;
}

Test(sumsq, matches_a_long_double_sum_on_every_isa)
{
    static const int64_t lens[] = {0, 1, 3, 17, 1001, 5 * 16384 + 17};
    const int64_t nmax = 5 * 16384 + 17;
    float *x = tu_alloc(nmax);
    tu_fill_uniform(x, nmax, 21, -3, 3);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *e = tu_engine(isas[k], 2);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            double got = -1;
            cr_assert_eq(difu_sum_squares(e, lens[l], x, &got), DIFU_OK);
            long double want = naive_sumsq(x, lens[l]);
            cr_assert(fabsl(got - want) <= 1e-13L * want, "%s n=%lld: %.17g vs %.17Lg",
                      difu_isa_name(isas[k]), (long long)lens[l], got, want);
        }
        difu_engine_destroy(e);
    }
    tu_free(x);
}

/* More than one batch of 256 chunks, so the in-order batch loop runs too. */
Test(sumsq, one_and_two_threads_are_bit_identical)
{
    const int64_t n = 256 * 16384 + 5003;
    float *x = tu_alloc(n);
    tu_fill_uniform(x, n, 22, -1, 1);
    long double want = naive_sumsq(x, n);
    difu_isa isas[DIFU_ISA_COUNT];
    int n_isa = tu_runnable_isas(isas);
    for (int k = 0; k < n_isa; k++) {
        difu_engine *t1 = tu_engine(isas[k], 1), *t2 = tu_engine(isas[k], 2);
        double a = 0, b = 0;
        cr_assert_eq(difu_sum_squares(t1, n, x, &a), DIFU_OK);
        cr_assert_eq(difu_sum_squares(t2, n, x, &b), DIFU_OK);
        cr_assert(memcmp(&a, &b, sizeof a) == 0, "%s: %.17g vs %.17g", difu_isa_name(isas[k]), a,
                  b);
        cr_assert(fabsl(a - want) <= 1e-13L * want, "%s: %.17g vs %.17Lg", difu_isa_name(isas[k]),
                  a, want);
        difu_engine_destroy(t1);
        difu_engine_destroy(t2);
    }
    tu_free(x);
}

Test(sumsq, bad_arguments_are_refused_with_messages)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    float x[2] = {1, 2};
    double out = 0;
    cr_assert_eq(difu_sum_squares(e, -7, x, &out), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "sum_squares: n must be >= 0, got -7");
    cr_assert_eq(difu_sum_squares(e, 2, x, NULL), DIFU_ERR_INVALID_ARG);
    CHECK_MSG(e, "out (nil)");
    cr_assert_eq(difu_sum_squares(e, 2, x, &out), DIFU_OK);
    cr_assert_eq(out, 5.0);
    difu_engine_destroy(e);
}
