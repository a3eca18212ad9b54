/* adam_ema.c: difu_adam_ema_step, Adam/AdamW + EMA in one pass over n parameters, split across
 * the engine's threads in fixed chunks (element-wise, so the split changes no bit). */
#include <math.h>

#include "engine_internal.h"

#define ADAM_CHUNK 16384

typedef struct adam_ctx {
    difu_adam_ema_fn kernel;
    const difu_adam_params *p;
    float *param;
    const float *grad;
    float *m, *v, *ema;
} adam_ctx;

static void adam_chunk(void *ctx, int64_t begin, int64_t end)
{
    const adam_ctx *c = ctx;
    c->kernel(end - begin, c->p, c->param + begin, c->grad + begin, c->m + begin, c->v + begin,
              c->ema ? c->ema + begin : NULL);
}

static difu_status check_params(difu_engine *e, const difu_adam_params *p, int with_ema)
{
    const float v[10] = {p->lr, p->beta1, p->beta2, p->eps, p->bc1, p->bc2, p->grad_scale,
                         p->l2, p->decoupled_wd, p->ema_decay};
    static const char *const names[10] = {"lr", "beta1", "beta2", "eps", "bc1", "bc2",
                                          "grad_scale", "l2", "decoupled_wd", "ema_decay"};
    const int checked = with_ema ? 10 : 9; /* ema_decay is unused without an EMA */
    for (int i = 0; i < checked; i++)
        if (!isfinite(v[i]))
            return difu_fail(e, DIFU_ERR_NUMERIC, "adam_ema: %s is %g", names[i], (double)v[i]);
    if (p->lr < 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "adam_ema: lr must be >= 0, got %g",
                         (double)p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "adam_ema: beta1 = %g and beta2 = %g must be in [0, 1)", (double)p->beta1,
                         (double)p->beta2);
    if (!(p->eps > 0))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "adam_ema: eps must be > 0, got %g",
                         (double)p->eps);
    if (!(p->bc1 > 0 && p->bc1 <= 1) || !(p->bc2 > 0 && p->bc2 <= 1))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "adam_ema: bias corrections bc1 = %g and bc2 = %g must be in (0, 1]",
                         (double)p->bc1, (double)p->bc2);
    if (p->l2 < 0 || p->decoupled_wd < 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "adam_ema: l2 = %g and decoupled_wd = %g must be >= 0", (double)p->l2,
                         (double)p->decoupled_wd);
    if (with_ema && !(p->ema_decay >= 0 && p->ema_decay <= 1))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "adam_ema: ema_decay must be in [0, 1], got %g",
                         (double)p->ema_decay);
    return DIFU_OK;
}

difu_status difu_adam_ema_step(difu_engine *e, int64_t n, const difu_adam_params *p, float *param,
                               const float *grad, float *m, float *v, float *ema)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (n < 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "adam_ema: n must be >= 0, got %lld",
                         (long long)n);
    if (!p)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "adam_ema: params are NULL");
    if (n > 0 && (!param || !grad || !m || !v))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "adam_ema: param %p, grad %p, m %p and v %p must be non-NULL for n = %lld",
                         (void *)param, (const void *)grad, (void *)m, (void *)v, (long long)n);
    difu_status s = check_params(e, p, ema != NULL);
    if (s != DIFU_OK)
        return s;
    adam_ctx c = {e->kernels.adam_ema, p, param, grad, m, v, ema};
    difu_run_chunks(e, n, ADAM_CHUNK, adam_chunk, &c);
    return DIFU_OK;
}
