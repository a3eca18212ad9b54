/* sampler_step.c: difu_sampler_step, one reverse diffusion step on a batch, in place on x, with
 * fresh noise from stream first_image + i when sigma != 0. Fixed chunks of the flattened range,
 * cut at image boundaries, so the result does not depend on the thread count. */
#include <math.h>

#include "engine_internal.h"

#define SAMPLER_CHUNK 16384
#define SAMPLER_MAX_PER_IMAGE ((int64_t)1 << 34)

typedef struct sampler_ctx {
    difu_sampler_step_fn kernel;
    int64_t per_image;
    const difu_sampler_coefs *coefs;
    const float *eps;
    uint64_t seed, step, first_image;
    float *x;
} sampler_ctx;

static void sampler_chunk(void *ctx, int64_t begin, int64_t end)
{
    const sampler_ctx *c = ctx;
    int64_t j = begin;
    while (j < end) {
        int64_t img = j / c->per_image;
        int64_t off = j - img * c->per_image;
        int64_t stop = (img + 1) * c->per_image < end ? (img + 1) * c->per_image : end;
        c->kernel(stop - j, c->coefs, c->eps + j, c->seed, c->step,
                  c->first_image + (uint64_t)img, off, c->x + j);
        j = stop;
    }
}

static difu_status check_coefs(difu_engine *e, const difu_sampler_coefs *c)
{
    const float v[8] = {c->c_x0_xt, c->c_x0_eps, c->sqrt_ab, c->sqrt_1mab,
                        c->c_x0,    c->c_xt,     c->c_dir,   c->sigma};
    static const char *const names[8] = {"c_x0_xt", "c_x0_eps", "sqrt_ab", "sqrt_1mab",
                                         "c_x0",    "c_xt",     "c_dir",   "sigma"};
    for (int i = 0; i < 8; i++)
        if (!isfinite(v[i]))
            return difu_fail(e, DIFU_ERR_NUMERIC, "sampler_step: coefficient %s is %g", names[i],
                             (double)v[i]);
    if (c->sigma < 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "sampler_step: sigma must be >= 0, got %g",
                         (double)c->sigma);
    if (c->clip_x0 && !(c->sqrt_1mab > 0))
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sampler_step: clip_x0 needs sqrt_1mab > 0, got %g", (double)c->sqrt_1mab);
    return DIFU_OK;
}

difu_status difu_sampler_step(difu_engine *e, int images, int64_t per_image,
                              const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                              uint64_t step, uint64_t first_image, float *x)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (images <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "sampler_step: images must be positive, got %d",
                         images);
    if (per_image <= 0 || per_image > SAMPLER_MAX_PER_IMAGE)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sampler_step: per_image must be in [1, 2^34], got %lld",
                         (long long)per_image);
    if (per_image > INT64_MAX / images)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sampler_step: %d images of %lld floats overflow the index range", images,
                         (long long)per_image);
    if (first_image > UINT32_MAX || (uint64_t)images - 1 > UINT32_MAX - first_image)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sampler_step: streams first_image %llu + %d images do not fit in 32 bits",
                         (unsigned long long)first_image, images);
    if (!c || !eps || !x)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "sampler_step: coefs %p, eps %p and x %p must all be non-NULL",
                         (const void *)c, (const void *)eps, (void *)x);
    difu_status s = check_coefs(e, c);
    if (s != DIFU_OK)
        return s;
    sampler_ctx ctx = {e->kernels.sampler_step, per_image, c, eps, seed, step, first_image, x};
    difu_run_chunks(e, (int64_t)images * per_image, SAMPLER_CHUNK, sampler_chunk, &ctx);
    return DIFU_OK;
}
