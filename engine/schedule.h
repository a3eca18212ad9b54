/* schedule.h: noise schedules (linear, cosine) and the coefficients of the forward process and
 * of the DDPM and DDIM reverse steps, computed in double (internal; the enums are in difu.h). */
#ifndef DIFU_SCHEDULE_H
#define DIFU_SCHEDULE_H

#include <stddef.h>

#include "difu.h"

typedef struct difu_schedule {
    difu_schedule_kind kind;
    int T;
    double *beta;      /* [T] */
    double *alpha_bar; /* [T], prod over s <= t of (1 - beta_s) */
} difu_schedule;

/* Fills s for T steps (1 <= T <= 100000). Owns two arrays: free with difu_schedule_free. */
difu_status difu_schedule_init(difu_schedule *s, difu_schedule_kind kind, int T, char *err,
                               size_t errlen);
void difu_schedule_free(difu_schedule *s);

/* x_t = a x_0 + b eps: a = sqrt(alpha_bar_t), b = sqrt(1 - alpha_bar_t). */
void difu_schedule_q_coefs(const difu_schedule *s, int t, float *a, float *b);

/* The ancestral step t -> t-1 as difu_sampler_coefs: the posterior mean written through the
 * predicted x0 (identical to 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) when
 * clip_x0 is 0), and sigma (0 at t = 0: the last step adds no noise). */
difu_sampler_coefs difu_ddpm_coefs(const difu_schedule *s, int t, difu_ddpm_variance var,
                                   int clip_x0);

/* The same for a respaced chain t -> t_prev (t_prev < t; -1 for the last step): the step's beta
 * is 1 - alpha_bar_t / alpha_bar_{t_prev} (improved-diffusion's respacing). With t_prev = t - 1
 * this is difu_ddpm_coefs. */
difu_sampler_coefs difu_ddpm_coefs_between(const difu_schedule *s, int t, int t_prev,
                                           difu_ddpm_variance var, int clip_x0);

/* The DDIM step t -> t_prev (t_prev = -1 for the last step, where alpha_bar = 1), with
 * sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev). */
difu_sampler_coefs difu_ddim_coefs(const difu_schedule *s, int t, int t_prev, double eta,
                                   int clip_x0);

/* Writes `steps` timesteps in decreasing order (the order they are visited) into out; with
 * steps == T both spacings give T-1, ..., 0. Returns DIFU_ERR_INVALID_ARG unless
 * 1 <= steps <= T. */
difu_status difu_sampling_timesteps(int T, int steps, difu_spacing spacing, int *out);

#endif /* DIFU_SCHEDULE_H */
