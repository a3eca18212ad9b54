/* groupnorm.c: the GroupNorm op (optionally fused with SiLU) on raw buffers: argument checks with
 * messages, then the engine's team kernel across its threads. Both kernels split work by
 * (image, group) or by group, so results are bit-identical for any thread count. */
#include <math.h>

#include "engine_internal.h"

typedef struct gn_ctx {
    const difu_kernels *k;
    const difu_groupnorm_desc *d;
    const float *x, *gamma, *beta, *mean_in, *rstd_in, *dy;
    float *y, *mean, *rstd, *dx, *dgamma, *dbeta;
} gn_ctx;

static difu_status check_desc(difu_engine *e, const char *op, const difu_groupnorm_desc *d)
{
    if (!d)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: the descriptor is NULL", op);
    if (d->n <= 0 || d->c <= 0 || d->hw <= 0 || d->groups <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: sizes must be positive, got n=%d c=%d hw=%d groups=%d", op, d->n,
                         d->c, d->hw, d->groups);
    if (d->c % d->groups != 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: %d groups do not divide %d channels", op,
                         d->groups, d->c);
    if (!(d->eps > 0.0f) || !isfinite(d->eps))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: eps must be positive and finite, got %g", op,
                         (double)d->eps);
    return DIFU_OK;
}

static void run_fwd(void *ctx, void *scratch, int ith, int nth)
{
    const gn_ctx *c = ctx;
    (void)scratch;
    c->k->groupnorm_fwd(c->d, c->x, c->gamma, c->beta, c->y, c->mean, c->rstd, ith, nth);
}

static void run_bwd(void *ctx, void *scratch, int ith, int nth)
{
    const gn_ctx *c = ctx;
    (void)scratch;
    c->k->groupnorm_bwd(c->d, c->x, c->gamma, c->beta, c->mean_in, c->rstd_in, c->dy, c->dx,
                        c->dgamma, c->dbeta, ith, nth);
}

difu_status difu_groupnorm_forward(difu_engine *e, const difu_groupnorm_desc *d, const float *x,
                                   const float *gamma, const float *beta, float *y, float *mean,
                                   float *rstd)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check_desc(e, "groupnorm_forward", d);
    if (s != DIFU_OK)
        return s;
    if (!x || !gamma || !beta || !y || !mean || !rstd)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "groupnorm_forward: NULL buffer (x %p, gamma %p, beta %p, y %p, mean %p, "
                         "rstd %p)",
                         (const void *)x, (const void *)gamma, (const void *)beta, (void *)y,
                         (void *)mean, (void *)rstd);
    gn_ctx c = {.k = &e->kernels,
                .d = d,
                .x = x,
                .gamma = gamma,
                .beta = beta,
                .y = y,
                .mean = mean,
                .rstd = rstd};
    difu_run_team(e, run_fwd, &c);
    return DIFU_OK;
}

difu_status difu_groupnorm_backward(difu_engine *e, const difu_groupnorm_desc *d, const float *x,
                                    const float *gamma, const float *beta, const float *mean,
                                    const float *rstd, const float *dy, float *dx, float *dgamma,
                                    float *dbeta)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check_desc(e, "groupnorm_backward", d);
    if (s != DIFU_OK)
        return s;
    if (!x || !gamma || !beta || !mean || !rstd || !dy || !dx)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "groupnorm_backward: NULL buffer (x %p, gamma %p, beta %p, mean %p, "
                         "rstd %p, dy %p, dx %p)",
                         (const void *)x, (const void *)gamma, (const void *)beta,
                         (const void *)mean, (const void *)rstd, (const void *)dy, (void *)dx);
    gn_ctx c = {.k = &e->kernels,
                .d = d,
                .x = x,
                .gamma = gamma,
                .beta = beta,
                .mean_in = mean,
                .rstd_in = rstd,
                .dy = dy,
                .dx = dx,
                .dgamma = dgamma,
                .dbeta = dbeta};
    difu_run_team(e, run_bwd, &c);
    return DIFU_OK;
}
