/* conv2d.c: the conv2d ops on raw buffers (forward, backward-data, backward-weights): argument
 * checks with messages, then the engine's team kernel across its threads, or the oneDNN backend
 * when the engine was created with conv_backend = DIFU_CONV_ONEDNN. */
#include <limits.h>

#include "engine_internal.h"
#include "onednn_conv.h"

typedef struct conv_ctx {
    const difu_kernels *k;
    const difu_conv2d_desc *d;
    const float *x, *weight, *bias, *dy;
    float *y, *dx, *dweight, *dbias;
} conv_ctx;

int difu_conv2d_out_h(const difu_conv2d_desc *d)
{
    if (!d || d->stride <= 0)
        return 0;
    return (d->h + 2 * d->pad - d->k) / d->stride + 1;
}

int difu_conv2d_out_w(const difu_conv2d_desc *d)
{
    if (!d || d->stride <= 0)
        return 0;
    return (d->w + 2 * d->pad - d->k) / d->stride + 1;
}

double difu_conv2d_flops(const difu_conv2d_desc *d)
{
    if (!d)
        return 0.0;
    return 2.0 * d->n * d->cout * difu_conv2d_out_h(d) * difu_conv2d_out_w(d) * d->cin * d->k *
           d->k;
}

static difu_status check_desc(difu_engine *e, const char *op, const difu_conv2d_desc *d)
{
    if (!d)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: the descriptor is NULL", op);
    if (d->n <= 0 || d->cin <= 0 || d->h <= 0 || d->w <= 0 || d->cout <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: sizes must be positive, got n=%d cin=%d h=%d w=%d cout=%d", op, d->n,
                         d->cin, d->h, d->w, d->cout);
    int ok = (d->k == 3 && d->stride == 1 && d->pad == 1) ||
             (d->k == 3 && d->stride == 2 && d->pad == 1) ||
             (d->k == 1 && d->stride == 1 && d->pad == 0);
    if (!ok)
        return difu_fail(e, DIFU_ERR_UNSUPPORTED,
                         "%s: k=%d stride=%d pad=%d is not supported (supported: k=3 stride=1 "
                         "pad=1, k=3 stride=2 pad=1, k=1 stride=1 pad=0)", op, d->k, d->stride,
                         d->pad);
    int oh = difu_conv2d_out_h(d), ow = difu_conv2d_out_w(d);
    if (oh <= 0 || ow <= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: input %dx%d gives an empty %dx%d output",
                         op, d->h, d->w, oh, ow);
    /* GEMM dimensions are ints: points per batch, channels times taps; buffers fit in size_t. */
    int64_t kk = (int64_t)d->k * d->k;
    int64_t in_pts = (int64_t)d->n * d->h * d->w, out_pts = (int64_t)d->n * oh * ow;
    int64_t x_elems = in_pts * d->cin, y_elems = out_pts * d->cout;
    if (in_pts > INT_MAX || out_pts > INT_MAX || d->cin * kk > INT_MAX || d->cout * kk > INT_MAX ||
        x_elems > (int64_t)(SIZE_MAX / sizeof(float)) / 2 ||
        y_elems > (int64_t)(SIZE_MAX / sizeof(float)) / 2 || (int64_t)d->cin * d->cout * kk > INT_MAX)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: n=%d cin=%d h=%d w=%d cout=%d is too large (sizes overflow)", op,
                         d->n, d->cin, d->h, d->w, d->cout);
    return DIFU_OK;
}

static void run_fwd(void *ctx, void *scratch, int ith, int nth)
{
    const conv_ctx *c = ctx;
    c->k->conv2d_fwd(c->k, c->d, c->x, c->weight, c->bias, c->y, scratch, ith, nth);
}

static void run_bwd_data(void *ctx, void *scratch, int ith, int nth)
{
    const conv_ctx *c = ctx;
    c->k->conv2d_bwd_data(c->k, c->d, c->dy, c->weight, c->dx, scratch, ith, nth);
}

static void run_bwd_weights(void *ctx, void *scratch, int ith, int nth)
{
    const conv_ctx *c = ctx;
    c->k->conv2d_bwd_weights(c->k, c->d, c->x, c->dy, c->dweight, c->dbias, scratch, ith, nth);
}

difu_status difu_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                const float *weight, const float *bias, float *y)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check_desc(e, "conv2d_forward", d);
    if (s != DIFU_OK)
        return s;
    if (!x || !weight || !y)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "conv2d_forward: NULL buffer (x %p, weight %p, y %p)", (const void *)x,
                         (const void *)weight, (void *)y);
    if (e->conv_backend == DIFU_CONV_ONEDNN)
        return difu_onednn_conv2d_forward(e, d, x, weight, bias, y);
    conv_ctx c = {.k = &e->kernels, .d = d, .x = x, .weight = weight, .bias = bias, .y = y};
    difu_run_team(e, run_fwd, &c);
    return DIFU_OK;
}

difu_status difu_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d, const float *dy,
                                      const float *weight, float *dx)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check_desc(e, "conv2d_backward_data", d);
    if (s != DIFU_OK)
        return s;
    if (!dy || !weight || !dx)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "conv2d_backward_data: NULL buffer (dy %p, weight %p, dx %p)",
                         (const void *)dy, (const void *)weight, (void *)dx);
    if (e->conv_backend == DIFU_CONV_ONEDNN)
        return difu_onednn_conv2d_backward_data(e, d, dy, weight, dx);
    conv_ctx c = {.k = &e->kernels, .d = d, .dy = dy, .weight = weight, .dx = dx};
    difu_run_team(e, run_bwd_data, &c);
    return DIFU_OK;
}

difu_status difu_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                         const float *dy, float *dweight, float *dbias)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    difu_status s = check_desc(e, "conv2d_backward_weights", d);
    if (s != DIFU_OK)
        return s;
    if (!x || !dy || !dweight)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "conv2d_backward_weights: NULL buffer (x %p, dy %p, dweight %p)",
                         (const void *)x, (const void *)dy, (void *)dweight);
    if (e->conv_backend == DIFU_CONV_ONEDNN)
        return difu_onednn_conv2d_backward_weights(e, d, x, dy, dweight, dbias);
    conv_ctx c = {.k = &e->kernels, .d = d, .x = x, .dy = dy, .dweight = dweight, .dbias = dbias};
    difu_run_team(e, run_bwd_weights, &c);
    return DIFU_OK;
}
