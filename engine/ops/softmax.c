/* softmax.c: the row softmax op on raw buffers: argument checks with messages, then the engine's
 * range kernel over fixed chunks of rows (about 16384 floats each; results do not depend on the
 * thread count). */
#include <math.h>

#include "engine_internal.h"

typedef struct softmax_ctx {
    const difu_kernels *k;
    int cols;
    float scale;
    const float *x, *y, *dy;
    float *out;
} softmax_ctx;

static int64_t rows_per_chunk(int cols)
{
    return cols >= 16384 ? 1 : 16384 / cols;
}

static difu_status check(difu_engine *e, const char *op, int64_t rows, int cols, float scale)
{
    if (rows <= 0 || cols <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: sizes must be positive, got rows=%lld cols=%d", op, (long long)rows,
                         cols);
    if (!isfinite(scale))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: scale must be finite, got %g", op,
                         (double)scale);
    return DIFU_OK;
}

static void run_fwd(void *ctx, int64_t begin, int64_t end)
{
    const softmax_ctx *c = ctx;
    c->k->softmax_fwd(end - begin, c->cols, c->scale, c->x + begin * c->cols,
                      c->out + begin * c->cols);
}

static void run_bwd(void *ctx, int64_t begin, int64_t end)
{
    const softmax_ctx *c = ctx;
    c->k->softmax_bwd(end - begin, c->cols, c->scale, c->y + begin * c->cols,
                      c->dy + begin * c->cols, c->out + begin * c->cols);
}

difu_status difu_softmax_forward(difu_engine *e, int64_t rows, int cols, float scale,
                                 const float *x, float *y)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check(e, "softmax_forward", rows, cols, scale);
    if (s != DIFU_OK)
        return s;
    if (!x || !y)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "softmax_forward: NULL buffer (x %p, y %p)",
                         (const void *)x, (void *)y);
    softmax_ctx c = {.k = &e->kernels, .cols = cols, .scale = scale, .x = x, .out = y};
    difu_run_chunks(e, rows, rows_per_chunk(cols), run_fwd, &c);
    return DIFU_OK;
}

difu_status difu_softmax_backward(difu_engine *e, int64_t rows, int cols, float scale,
                                  const float *y, const float *dy, float *dx)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check(e, "softmax_backward", rows, cols, scale);
    if (s != DIFU_OK)
        return s;
    if (!y || !dy || !dx)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "softmax_backward: NULL buffer (y %p, dy %p, dx %p)", (const void *)y,
                         (const void *)dy, (void *)dx);
    softmax_ctx c = {.k = &e->kernels, .cols = cols, .scale = scale, .y = y, .dy = dy, .out = dx};
    difu_run_chunks(e, rows, rows_per_chunk(cols), run_bwd, &c);
    return DIFU_OK;
}
