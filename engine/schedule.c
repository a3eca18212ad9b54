/* schedule.c: noise schedules and reverse-step coefficients (see schedule.h). */
#include "schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAMED_ENUM(type, count, fname, pname, ...)                                           \
    const char *fname(type v)                                                                  \
    {                                                                                          \
        static const char *const names[count] = {__VA_ARGS__};                                 \
        return ((int)v >= 0 && (int)v < count) ? names[v] : "unknown";                         \
    }                                                                                          \
    int pname(const char *text)                                                                \
    {                                                                                          \
        for (int i = 0; text && i < count; i++)                                                \
            if (strcmp(text, fname((type)i)) == 0)                                             \
                return i;                                                                      \
        return -1;                                                                             \
    }

NAMED_ENUM(difu_schedule_kind, DIFU_SCHEDULE_COUNT, difu_schedule_kind_name,
           difu_schedule_kind_parse, "linear", "cosine")
NAMED_ENUM(difu_ddpm_variance, DIFU_DDPM_VAR_COUNT, difu_ddpm_variance_name,
           difu_ddpm_variance_parse, "beta", "posterior")
NAMED_ENUM(difu_spacing, DIFU_SPACING_COUNT, difu_spacing_name, difu_spacing_parse, "uniform",
           "trailing")
NAMED_ENUM(difu_sampler_kind, DIFU_SAMPLER_COUNT, difu_sampler_kind_name, difu_sampler_kind_parse,
           "ddpm", "ddim")

/* f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), alpha_bar(t) = f(t) / f(0). */
static double cosine_f(double t, int T)
{
    const double s = 0.008;
    double c = cos((t / T + s) / (1 + s) * 3.14159265358979323846 / 2);
    return c * c;
}

difu_status difu_schedule_init(difu_schedule *s, difu_schedule_kind kind, int T, char *err,
                               size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (kind < 0 || kind >= DIFU_SCHEDULE_COUNT || T < 1 || T > 100000) {
        if (err && errlen)
            snprintf(err, errlen, "schedule: need a known kind and 1 <= T <= 100000, got kind %d, T %d",
                     (int)kind, T);
        return DIFU_ERR_INVALID_ARG;
    }
    if (kind == DIFU_SCHEDULE_LINEAR && 1000.0 / T * 0.02 >= 1.0) {
        if (err && errlen)
            snprintf(err, errlen, "schedule: the linear schedule scales beta to 0.02 * 1000 / T, which "
                     "reaches %g >= 1 at T = %d: use T >= 21 or the cosine schedule",
                     1000.0 / T * 0.02, T);
        return DIFU_ERR_INVALID_ARG;
    }
    double *beta = malloc(sizeof(double) * (size_t)T);
    double *ab = malloc(sizeof(double) * (size_t)T);
    if (!beta || !ab) {
        free(beta);
        free(ab);
        if (err && errlen)
            snprintf(err, errlen, "schedule: out of memory for T = %d", T);
        return DIFU_ERR_NO_MEMORY;
    }
    for (int t = 0; t < T; t++) {
        if (kind == DIFU_SCHEDULE_LINEAR) {
            /* DDPM: 1e-4 .. 0.02 over 1000 steps; scaled so other T keep the same total noise. */
            double scale = 1000.0 / T, lo = scale * 1e-4, hi = scale * 0.02;
            beta[t] = T == 1 ? lo : lo + (hi - lo) * t / (T - 1);
        } else {
            double b = 1.0 - cosine_f(t + 1, T) / cosine_f(t, T);
            beta[t] = b < 0.999 ? b : 0.999;
        }
    }
    double prod = 1.0;
    for (int t = 0; t < T; t++) {
        prod *= 1.0 - beta[t];
        ab[t] = prod;
    }
    s->kind = kind;
    s->T = T;
    s->beta = beta;
    s->alpha_bar = ab;
    return DIFU_OK;
}

void difu_schedule_free(difu_schedule *s)
{
    free(s->beta);
    free(s->alpha_bar);
    memset(s, 0, sizeof *s);
}

void difu_schedule_q_coefs(const difu_schedule *s, int t, float *a, float *b)
{
    *a = (float)sqrt(s->alpha_bar[t]);
    *b = (float)sqrt(1.0 - s->alpha_bar[t]);
}

/* x0 = x / sqrt(ab) - sqrt(1 - ab) / sqrt(ab) * eps, and the dir terms used when clipping. */
static void set_x0_terms(difu_sampler_coefs *c, double ab, int clip_x0)
{
    c->c_x0_xt = (float)(1.0 / sqrt(ab));
    c->c_x0_eps = (float)(sqrt(1.0 - ab) / sqrt(ab));
    c->sqrt_ab = (float)sqrt(ab);
    c->sqrt_1mab = (float)sqrt(1.0 - ab);
    c->clip_x0 = clip_x0;
}

/* Posterior q(x_prev | x_t, x0) of a step whose beta is `beta`: mean = c_x0 x0 + c_xt x_t. */
static difu_sampler_coefs ddpm_step(double ab, double ab_prev, double beta, int last,
                                    difu_ddpm_variance var, int clip_x0)
{
    difu_sampler_coefs c;
    memset(&c, 0, sizeof c);
    double alpha = 1.0 - beta;
    set_x0_terms(&c, ab, clip_x0);
    c.c_x0 = (float)(beta * sqrt(ab_prev) / (1.0 - ab));
    c.c_xt = (float)((1.0 - ab_prev) * sqrt(alpha) / (1.0 - ab));
    c.c_dir = 0.0f;
    double var_t = var == DIFU_DDPM_VAR_BETA ? beta : beta * (1.0 - ab_prev) / (1.0 - ab);
    c.sigma = last ? 0.0f : (float)sqrt(var_t);
    return c;
}

difu_sampler_coefs difu_ddpm_coefs(const difu_schedule *s, int t, difu_ddpm_variance var,
                                   int clip_x0)
{
    double ab_prev = t > 0 ? s->alpha_bar[t - 1] : 1.0;
    return ddpm_step(s->alpha_bar[t], ab_prev, s->beta[t], t == 0, var, clip_x0);
}

difu_sampler_coefs difu_ddpm_coefs_between(const difu_schedule *s, int t, int t_prev,
                                           difu_ddpm_variance var, int clip_x0)
{
    if (t_prev == t - 1)
        return difu_ddpm_coefs(s, t, var, clip_x0);
    double ab = s->alpha_bar[t], ab_prev = t_prev >= 0 ? s->alpha_bar[t_prev] : 1.0;
    return ddpm_step(ab, ab_prev, 1.0 - ab / ab_prev, t_prev < 0, var, clip_x0);
}

difu_sampler_coefs difu_ddim_coefs(const difu_schedule *s, int t, int t_prev, double eta,
                                   int clip_x0)
{
    difu_sampler_coefs c;
    memset(&c, 0, sizeof c);
    double ab = s->alpha_bar[t], ab_prev = t_prev >= 0 ? s->alpha_bar[t_prev] : 1.0;
    set_x0_terms(&c, ab, clip_x0);
    double sigma = eta * sqrt((1.0 - ab_prev) / (1.0 - ab)) * sqrt(1.0 - ab / ab_prev);
    double dir2 = 1.0 - ab_prev - sigma * sigma;
    c.c_x0 = (float)sqrt(ab_prev);
    c.c_xt = 0.0f;
    c.c_dir = (float)sqrt(dir2 > 0 ? dir2 : 0);
    c.sigma = (float)sigma;
    return c;
}

difu_status difu_sampling_timesteps(int T, int steps, difu_spacing spacing, int *out)
{
    if (steps < 1 || steps > T || spacing < 0 || spacing >= DIFU_SPACING_COUNT)
        return DIFU_ERR_INVALID_ARG;
    for (int i = 0; i < steps; i++) {
        int t;
        if (spacing == DIFU_SPACING_UNIFORM)
            t = (int)((long long)(steps - 1 - i) * T / steps);
        else
            t = (int)lround(T - (double)i * T / steps) - 1;
        out[i] = t;
    }
    return DIFU_OK;
}
