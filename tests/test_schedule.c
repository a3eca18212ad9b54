/* test_schedule.c: noise schedules against their formulas (linear endpoints, cosine alpha_bar),
 * the DDPM posterior mean and variance and the DDIM update run through difu_sampler_step against
 * closed forms computed here in double from the betas, timestep spacings, and the enum names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "difu.h"
#include "schedule.h"
#include "test_util.h"

static difu_schedule make(difu_schedule_kind kind, int T)
{
    difu_schedule s;
    char err[256];
    cr_assert_eq(difu_schedule_init(&s, kind, T, err, sizeof err), DIFU_OK, "%s", err);
    return s;
}

Test(schedule, linear_endpoints_and_alpha_bar)
{
    difu_schedule s = make(DIFU_SCHEDULE_LINEAR, 1000);
    cr_assert_float_eq(s.beta[0], 1e-4, 1e-15);
    cr_assert_float_eq(s.beta[999], 0.02, 1e-15);
    cr_assert_float_eq(s.beta[500], 1e-4 + (0.02 - 1e-4) * 500.0 / 999.0, 1e-15);
    double prod = 1;
    for (int t = 0; t < 1000; t++) {
        prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
        cr_assert(fabs(s.alpha_bar[t] - prod) <= 1e-12 * prod, "alpha_bar[%d] = %.17g, want %.17g",
                  t, s.alpha_bar[t], prod);
    }
    /* The DDPM value: alpha_bar_{T-1} is about 4.0e-5. */
    cr_assert(s.alpha_bar[999] > 3.9e-5 && s.alpha_bar[999] < 4.1e-5, "%g", s.alpha_bar[999]);
    float a, b;
    difu_schedule_q_coefs(&s, 10, &a, &b);
    cr_assert_float_eq(a, (float)sqrt(s.alpha_bar[10]), 0);
    cr_assert_float_eq(b, (float)sqrt(1 - s.alpha_bar[10]), 0);
    difu_schedule_free(&s);
    /* Other T: betas scaled by 1000 / T. */
    s = make(DIFU_SCHEDULE_LINEAR, 250);
    cr_assert_float_eq(s.beta[0], 4e-4, 1e-15);
    cr_assert_float_eq(s.beta[249], 0.08, 1e-15);
    difu_schedule_free(&s);
}

static double cos_f(double t, double T)
{
    double c = cos((t / T + 0.008) / 1.008 * acos(-1.0) / 2);
    return c * c;
}

Test(schedule, cosine_alpha_bar_formula_and_monotone)
{
    const int T = 1000;
    difu_schedule s = make(DIFU_SCHEDULE_COSINE, T);
    for (int t = 0; t < T; t++) {
        cr_assert(s.beta[t] > 0 && s.beta[t] <= 0.999, "beta[%d] = %g", t, s.beta[t]);
        if (t > 0)
            cr_assert(s.alpha_bar[t] < s.alpha_bar[t - 1], "alpha_bar not decreasing at %d", t);
        /* alpha_bar_t = f(t + 1) / f(0) wherever the 0.999 cap did not act. */
        if (t < T - 1) {
            double want = cos_f(t + 1, T) / cos_f(0, T);
            cr_assert(fabs(s.alpha_bar[t] - want) <= 1e-10 * want + 1e-15,
                      "alpha_bar[%d] = %.17g, want %.17g", t, s.alpha_bar[t], want);
        }
    }
    cr_assert(s.beta[T - 1] == 0.999, "the last beta is capped: %g", s.beta[T - 1]);
    cr_assert(s.alpha_bar[T / 2] > 0.45 && s.alpha_bar[T / 2] < 0.55, "midpoint %g",
              s.alpha_bar[T / 2]);
    difu_schedule_free(&s);
}

Test(schedule, bad_arguments)
{
    difu_schedule s;
    char err[256] = "";
    cr_assert_eq(difu_schedule_init(&s, DIFU_SCHEDULE_LINEAR, 0, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "T 0"), "%s", err);
    cr_assert_eq(difu_schedule_init(&s, (difu_schedule_kind)7, 10, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    /* the linear schedule's beta_T = 0.02 * 1000 / T reaches 1 at T = 20 */
    cr_assert_eq(difu_schedule_init(&s, DIFU_SCHEDULE_LINEAR, 20, err, sizeof err),
                 DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(err, "T = 20") && strstr(err, "T >= 21"), "%s", err);
    cr_assert_eq(difu_schedule_init(&s, DIFU_SCHEDULE_LINEAR, 21, err, sizeof err), DIFU_OK, "%s",
                 err);
    for (int t = 0; t < 21; t++)
        cr_assert(s.alpha_bar[t] > 0 && s.beta[t] < 1, "t %d: beta %g alpha_bar %g", t, s.beta[t],
                  s.alpha_bar[t]);
    difu_schedule_free(&s);
    cr_assert_eq(difu_schedule_init(&s, DIFU_SCHEDULE_COSINE, 10, err, sizeof err), DIFU_OK, "%s",
                 err);
    difu_schedule_free(&s);
    int ts[4];
    cr_assert_eq(difu_sampling_timesteps(10, 11, DIFU_SPACING_UNIFORM, ts), DIFU_ERR_INVALID_ARG);
    cr_assert_eq(difu_sampling_timesteps(10, 0, DIFU_SPACING_TRAILING, ts), DIFU_ERR_INVALID_ARG);
}

Test(schedule, names_round_trip)
{
    for (int i = 0; i < DIFU_SCHEDULE_COUNT; i++)
        cr_assert_eq(difu_schedule_kind_parse(difu_schedule_kind_name((difu_schedule_kind)i)), i);
    for (int i = 0; i < DIFU_SAMPLER_COUNT; i++)
        cr_assert_eq(difu_sampler_kind_parse(difu_sampler_kind_name((difu_sampler_kind)i)), i);
    cr_assert_str_eq(difu_ddpm_variance_name(DIFU_DDPM_VAR_POSTERIOR), "posterior");
    cr_assert_eq(difu_spacing_parse("trailing"), DIFU_SPACING_TRAILING);
    cr_assert_eq(difu_spacing_parse("leading"), -1);
    cr_assert_eq(difu_schedule_kind_parse(NULL), -1);
}

Test(schedule, timestep_spacings)
{
    int ts[1000];
    cr_assert_eq(difu_sampling_timesteps(1000, 50, DIFU_SPACING_UNIFORM, ts), DIFU_OK);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(ts[i], 980 - 20 * i, "uniform %d: %d", i, ts[i]);
    cr_assert_eq(difu_sampling_timesteps(1000, 50, DIFU_SPACING_TRAILING, ts), DIFU_OK);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(ts[i], 999 - 20 * i, "trailing %d: %d", i, ts[i]);
    /* Uneven: trailing starts at T-1, both strictly decreasing and in range. */
    for (int sp = 0; sp < DIFU_SPACING_COUNT; sp++) {
        cr_assert_eq(difu_sampling_timesteps(1000, 7, (difu_spacing)sp, ts), DIFU_OK);
        for (int i = 0; i < 7; i++) {
            cr_assert(ts[i] >= 0 && ts[i] < 1000);
            if (i)
                cr_assert(ts[i] < ts[i - 1], "spacing %d not decreasing at %d", sp, i);
        }
        cr_assert_eq(difu_sampling_timesteps(100, 100, (difu_spacing)sp, ts), DIFU_OK);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(ts[i], 99 - i);
    }
    difu_sampling_timesteps(1000, 7, DIFU_SPACING_TRAILING, ts);
    cr_assert_eq(ts[0], 999);
    cr_assert_eq(ts[6], (int)lround(1000 - 6 * 1000.0 / 7) - 1);
}

#define N_IMG 3
#define PER 37

/* Runs difu_sampler_step on fixed x, eps and returns x_new in out; z is the noise it drew. */
static void run_step(const difu_sampler_coefs *c, const float *x, const float *eps, float *out,
                     float *z)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 2);
    memcpy(out, x, sizeof(float) * N_IMG * PER);
    cr_assert_eq(difu_sampler_step(e, N_IMG, PER, c, eps, 42, 7, 5, out), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    for (int i = 0; i < N_IMG; i++)
        cr_assert_eq(difu_randn(e, 42, 7, 5 + (uint64_t)i, z + i * PER, PER), DIFU_OK);
    difu_engine_destroy(e);
}

static void inputs(float *x, float *eps)
{
    tu_fill_uniform(x, N_IMG * PER, 11, -2.5f, 2.5f);
    tu_fill_uniform(eps, N_IMG * PER, 12, -2.0f, 2.0f);
}

/* The DDPM step from the betas alone: mean = 1/sqrt(alpha) (x - beta / sqrt(1 - ab) eps), and
 * the posterior mean through x0 (clipped or not), variance beta or beta~. */
static void check_ddpm(difu_schedule_kind kind, int t, difu_ddpm_variance var, int clip)
{
    difu_schedule s = make(kind, 1000);
    double ab = 1, ab_prev = 1;
    for (int k = 0; k <= t; k++) {
        ab_prev = ab;
        ab *= 1 - s.beta[k];
    }
    double beta = s.beta[t], alpha = 1 - beta;
    difu_sampler_coefs c = difu_ddpm_coefs(&s, t, var, clip);
    double var_want = var == DIFU_DDPM_VAR_BETA ? beta : beta * (1 - ab_prev) / (1 - ab);
    double sig_want = t == 0 ? 0 : sqrt(var_want);
    cr_assert(fabs(c.sigma - sig_want) <= 1e-6 * sig_want + 1e-12, "t %d sigma %g want %g", t,
              (double)c.sigma, sig_want);
    float x[N_IMG * PER], eps[N_IMG * PER], got[N_IMG * PER], z[N_IMG * PER], want[N_IMG * PER];
    inputs(x, eps);
    run_step(&c, x, eps, got, z);
    for (int j = 0; j < N_IMG * PER; j++) {
        double mean;
        if (!clip) {
            mean = (x[j] - beta / sqrt(1 - ab) * eps[j]) / sqrt(alpha);
        } else {
            double x0 = (x[j] - sqrt(1 - ab) * eps[j]) / sqrt(ab);
            x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
            mean = sqrt(ab_prev) * beta / (1 - ab) * x0 + sqrt(alpha) * (1 - ab_prev) / (1 - ab) * x[j];
        }
        want[j] = (float)(mean + sig_want * z[j]);
    }
    char what[96];
    snprintf(what, sizeof what, "ddpm t %d var %d clip %d", t, (int)var, clip);
    tu_assert_close(what, got, want, N_IMG * PER, 2e-5, 2e-4);
    difu_schedule_free(&s);
}

Test(schedule, ddpm_step_matches_closed_form)
{
    const int ts[] = {0, 1, 37, 500, 999};
    for (int i = 0; i < 5; i++)
        for (int v = 0; v < DIFU_DDPM_VAR_COUNT; v++) {
            check_ddpm(DIFU_SCHEDULE_LINEAR, ts[i], (difu_ddpm_variance)v, 0);
            check_ddpm(DIFU_SCHEDULE_LINEAR, ts[i], (difu_ddpm_variance)v, 1);
        }
    check_ddpm(DIFU_SCHEDULE_COSINE, 600, DIFU_DDPM_VAR_POSTERIOR, 0);
    check_ddpm(DIFU_SCHEDULE_COSINE, 600, DIFU_DDPM_VAR_BETA, 1);
}

/* DDIM from the betas: x0 = (x - sqrt(1-ab) eps) / sqrt(ab) (clipped: eps recomputed from it),
 * x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z. */
static void check_ddim(int t, int t_prev, double eta, int clip)
{
    difu_schedule s = make(DIFU_SCHEDULE_LINEAR, 1000);
    double ab = 1, ab_prev = 1;
    for (int k = 0; k <= t; k++) {
        ab *= 1 - s.beta[k];
        if (k == t_prev)
            ab_prev = ab;
    }
    double sigma = eta * sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev));
    difu_sampler_coefs c = difu_ddim_coefs(&s, t, t_prev, eta, clip);
    cr_assert(fabs(c.sigma - sigma) <= 1e-6 * sigma + 1e-12, "sigma %g want %g", (double)c.sigma,
              sigma);
    float x[N_IMG * PER], eps[N_IMG * PER], got[N_IMG * PER], z[N_IMG * PER], want[N_IMG * PER];
    inputs(x, eps);
    run_step(&c, x, eps, got, z);
    for (int j = 0; j < N_IMG * PER; j++) {
        double x0 = (x[j] - sqrt(1 - ab) * eps[j]) / sqrt(ab), e = eps[j];
        if (clip) {
            x0 = x0 < -1 ? -1 : x0 > 1 ? 1 : x0;
            e = (x[j] - sqrt(ab) * x0) / sqrt(1 - ab);
        }
        want[j] = (float)(sqrt(ab_prev) * x0 + sqrt(1 - ab_prev - sigma * sigma) * e + sigma * z[j]);
    }
    char what[96];
    snprintf(what, sizeof what, "ddim %d->%d eta %g clip %d", t, t_prev, eta, clip);
    tu_assert_close(what, got, want, N_IMG * PER, 2e-5, 2e-4);
    difu_schedule_free(&s);
}

Test(schedule, ddim_step_matches_closed_form)
{
    check_ddim(999, 979, 0.0, 0);
    check_ddim(999, 979, 0.0, 1);
    check_ddim(500, 250, 0.5, 0);
    check_ddim(500, 250, 1.0, 1);
    check_ddim(19, -1, 0.0, 0);
    check_ddim(40, 20, 0.3, 0);
}

Test(schedule, ddim_eta1_consecutive_is_ddpm_posterior)
{
    difu_schedule s = make(DIFU_SCHEDULE_LINEAR, 1000);
    for (int t = 1; t < 1000; t += 111) {
        difu_sampler_coefs a = difu_ddim_coefs(&s, t, t - 1, 1.0, 0);
        difu_sampler_coefs b = difu_ddpm_coefs(&s, t, DIFU_DDPM_VAR_POSTERIOR, 0);
        cr_assert(fabs(a.sigma - b.sigma) <= 1e-5 * b.sigma, "t %d: %g vs %g", t, (double)a.sigma,
                  (double)b.sigma);
    }
    difu_schedule_free(&s);
}

Test(schedule, ddpm_respaced_chain)
{
    difu_schedule s = make(DIFU_SCHEDULE_LINEAR, 1000);
    /* t_prev = t - 1 is the plain step, bit for bit. */
    difu_sampler_coefs a = difu_ddpm_coefs_between(&s, 300, 299, DIFU_DDPM_VAR_BETA, 1);
    difu_sampler_coefs b = difu_ddpm_coefs(&s, 300, DIFU_DDPM_VAR_BETA, 1);
    cr_assert(memcmp(&a, &b, sizeof a) == 0);
    /* A jump 300 -> 200: beta' = 1 - ab_300 / ab_200, posterior of that step. */
    double ab = s.alpha_bar[300], abp = s.alpha_bar[200], beta = 1 - ab / abp;
    difu_sampler_coefs c = difu_ddpm_coefs_between(&s, 300, 200, DIFU_DDPM_VAR_POSTERIOR, 0);
    cr_assert(fabs(c.c_x0 - beta * sqrt(abp) / (1 - ab)) < 1e-6);
    cr_assert(fabs(c.c_xt - sqrt(1 - beta) * (1 - abp) / (1 - ab)) < 1e-6);
    cr_assert(fabs(c.sigma - sqrt(beta * (1 - abp) / (1 - ab))) < 1e-6);
    /* The last step of a respaced chain adds no noise and returns x0. */
    c = difu_ddpm_coefs_between(&s, 50, -1, DIFU_DDPM_VAR_BETA, 1);
    cr_assert_eq(c.sigma, 0.0f);
    cr_assert(fabs(c.c_x0 - 1) < 1e-6 && fabs(c.c_xt) < 1e-6, "%g %g", (double)c.c_x0,
              (double)c.c_xt);
    difu_schedule_free(&s);
}
