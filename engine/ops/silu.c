/* silu.c: the SiLU op on raw buffers: argument checks with messages, then the engine's range
 * kernel over fixed 16384-element chunks (results do not depend on the thread count). */
#include "engine_internal.h"

#define SILU_CHUNK 16384

typedef struct silu_ctx {
    const difu_kernels *k;
    const float *x, *dy;
    float *y, *dx;
} silu_ctx;

static void run_fwd(void *ctx, int64_t begin, int64_t end)
{
    const silu_ctx *c = ctx;
    c->k->silu_fwd(end - begin, c->x + begin, c->y + begin);
}

static void run_bwd(void *ctx, int64_t begin, int64_t end)
{
    const silu_ctx *c = ctx;
    c->k->silu_bwd(end - begin, c->x + begin, c->dy + begin, c->dx + begin);
}

difu_status difu_silu_forward(difu_engine *e, int64_t n, const float *x, float *y)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (n <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "silu_forward: n must be positive, got %lld",
                         (long long)n);
    if (!x || !y)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "silu_forward: NULL buffer (x %p, y %p)",
                         (const void *)x, (void *)y);
    silu_ctx c = {.k = &e->kernels, .x = x, .y = y};
    difu_run_chunks(e, n, SILU_CHUNK, run_fwd, &c);
    return DIFU_OK;
}

difu_status difu_silu_backward(difu_engine *e, int64_t n, const float *x, const float *dy,
                               float *dx)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (n <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "silu_backward: n must be positive, got %lld",
                         (long long)n);
    if (!x || !dy || !dx)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "silu_backward: NULL buffer (x %p, dy %p, dx %p)",
                         (const void *)x, (const void *)dy, (void *)dx);
    silu_ctx c = {.k = &e->kernels, .x = x, .dy = dy, .dx = dx};
    difu_run_chunks(e, n, SILU_CHUNK, run_bwd, &c);
    return DIFU_OK;
}
