/* sumsq.c: difu_sum_squares, the sum of squares in double of x[0..n): partials over fixed
 * 16384-element chunks (computed in parallel), added in chunk order, so the result does not depend
 * on the thread count. Partials go through a fixed-size stack array, batch by batch: no malloc. */
#include "engine_internal.h"

#define SUMSQ_CHUNK 16384
#define SUMSQ_BATCH 256 /* chunks per parallel batch */

typedef struct sumsq_ctx {
    difu_sumsq_fn kernel;
    const float *x;    /* start of this batch */
    double *partials;  /* one per chunk of the batch */
} sumsq_ctx;

static void sumsq_chunk(void *ctx, int64_t begin, int64_t end)
{
    const sumsq_ctx *c = ctx;
    c->partials[begin / SUMSQ_CHUNK] = c->kernel(end - begin, c->x + begin);
}

difu_status difu_sum_squares(difu_engine *e, int64_t n, const float *x, double *out)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (n < 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "sum_squares: n must be >= 0, got %lld",
                         (long long)n);
    if (!out || (n > 0 && !x))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sum_squares: x %p (n = %lld) and out %p must be non-NULL",
                         (const void *)x, (long long)n, (void *)out);
    double partials[SUMSQ_BATCH];
    double total = 0.0;
    const int64_t batch = (int64_t)SUMSQ_BATCH * SUMSQ_CHUNK;
    for (int64_t b = 0; b < n; b += batch) {
        int64_t len = n - b < batch ? n - b : batch;
        sumsq_ctx c = {e->kernels.sumsq, x + b, partials};
        difu_run_chunks(e, len, SUMSQ_CHUNK, sumsq_chunk, &c);
        int64_t chunks = (len + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
        for (int64_t i = 0; i < chunks; i++)
            total += partials[i];
    }
    *out = total;
    return DIFU_OK;
}
