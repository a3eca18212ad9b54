/* q_sample.c: difu_q_sample, forward noising of a batch, x_t = a[i] x0 + b[i] eps with eps drawn
 * in the same pass from stream first_image + i. The batch is split into fixed chunks of the
 * flattened [images * per_image] range, each cut at image boundaries for the kernel. */
#include <math.h>

#include "engine_internal.h"

#define Q_SAMPLE_CHUNK 16384
#define Q_SAMPLE_MAX_PER_IMAGE ((int64_t)1 << 34)

typedef struct q_sample_ctx {
    difu_q_sample_fn kernel;
    int64_t per_image;
    const float *x0, *a, *b;
    uint64_t seed, step, first_image;
    float *eps, *xt;
} q_sample_ctx;

static void q_sample_chunk(void *ctx, int64_t begin, int64_t end)
{
    const q_sample_ctx *c = ctx;
    int64_t j = begin;
    while (j < end) {
        int64_t img = j / c->per_image;
        int64_t off = j - img * c->per_image;
        int64_t stop = (img + 1) * c->per_image < end ? (img + 1) * c->per_image : end;
        c->kernel(stop - j, c->x0 + j, c->a[img], c->b[img], c->seed, c->step,
                  c->first_image + (uint64_t)img, off, c->eps + j, c->xt + j);
        j = stop;
    }
}

difu_status difu_q_sample(difu_engine *e, int images, int64_t per_image, const float *x0,
                          const float *a, const float *b, uint64_t seed, uint64_t step,
                          uint64_t first_image, float *eps, float *xt)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (images <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "q_sample: images must be positive, got %d",
                         images);
    if (per_image <= 0 || per_image > Q_SAMPLE_MAX_PER_IMAGE)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "q_sample: per_image must be in [1, 2^34], got %lld",
                         (long long)per_image);
    if (per_image > INT64_MAX / images)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "q_sample: %d images of %lld floats overflow the index range", images,
                         (long long)per_image);
    if (first_image > UINT32_MAX || (uint64_t)images - 1 > UINT32_MAX - first_image)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "q_sample: streams first_image %llu + %d images do not fit in 32 bits",
                         (unsigned long long)first_image, images);
    if (!x0 || !a || !b || !eps || !xt)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "q_sample: x0 %p, a %p, b %p, eps %p and xt %p must all be non-NULL",
                         (const void *)x0, (const void *)a, (const void *)b, (void *)eps,
                         (void *)xt);
    for (int i = 0; i < images; i++)
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return difu_fail(e, DIFU_ERR_NUMERIC,
                             "q_sample: image %d has non-finite coefficients a = %g, b = %g", i,
                             (double)a[i], (double)b[i]);
    q_sample_ctx c = {e->kernels.q_sample, per_image, x0, a, b, seed, step, first_image, eps, xt};
    difu_run_chunks(e, (int64_t)images * per_image, Q_SAMPLE_CHUNK, q_sample_chunk, &c);
    return DIFU_OK;
}
