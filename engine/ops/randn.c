/* randn.c: difu_randn, counter-based Gaussian noise into a caller buffer, split across the
 * engine's threads in fixed chunks (each element's value depends only on seed, step, stream and
 * its index, so neither the chunking nor the thread count changes a bit). */
#include "engine_internal.h"

#define RANDN_CHUNK 16384
/* Counter word 0 is the block index j / 4, a 32-bit word. */
#define RANDN_MAX_N ((int64_t)1 << 34)

typedef struct randn_ctx {
    difu_randn_fn kernel;
    uint64_t seed, step, stream;
    float *dst;
} randn_ctx;

static void randn_chunk(void *ctx, int64_t begin, int64_t end)
{
    const randn_ctx *c = ctx;
    c->kernel(c->seed, c->step, c->stream, begin, end - begin, c->dst + begin);
}

difu_status difu_randn(difu_engine *e, uint64_t seed, uint64_t step, uint64_t stream, float *dst,
                       int64_t n)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (n < 0 || n > RANDN_MAX_N)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "randn: n must be in [0, 2^34], got %lld",
                         (long long)n);
    if (stream > UINT32_MAX)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "randn: stream %llu does not fit in 32 bits",
                         (unsigned long long)stream);
    if (n > 0 && !dst)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "randn: dst is NULL for n = %lld",
                         (long long)n);
    randn_ctx c = {e->kernels.randn, seed, step, stream, dst};
    difu_run_chunks(e, n, RANDN_CHUNK, randn_chunk, &c);
    return DIFU_OK;
}
