/* conv2d_epilogue.c: a forward convolution plus the adds that follow it in a ResBlock (the time
 * embedding per channel, the skip path), kernels.h's difu_conv_epilogue. The Winograd output
 * transform adds them as it writes each output row; every other path gets one pass over y after
 * the convolution. Either way y = conv + bias, then + channel, then + residual, in
 * that order, so the fused and the separate forms give the same bits. */
#include "conv2d_winograd.h"
#include "gemm_conv.h"

void difu_conv_epilogue_span(const difu_conv_epilogue *ep, int64_t plane, int64_t at,
                             int64_t count, float *y)
{
    if (ep->channel) {
        const float v = ep->channel[plane];
        for (int64_t i = 0; i < count; i++)
            y[i] += v;
    }
    if (ep->residual) {
        const float *r = ep->residual + at;
        for (int64_t i = 0; i < count; i++)
            y[i] += r[i];
    }
}

void difu_conv_epilogue_planes(const difu_conv_epilogue *ep, int64_t p0, int64_t p1,
                               int64_t ohw, float *y)
{
    for (int64_t p = p0; p < p1; p++)
        difu_conv_epilogue_span(ep, p, p * ohw, ohw, y + p * ohw);
}

void difu_conv2d_fwd_epilogue(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                              const float *weight, const float *wino_u, const float *bias,
                              const difu_conv_epilogue *ep, float *y, void *scratch, int ith,
                              int nth)
{
    /* the shifted driver sends exactly the shapes difu_winograd_fits accepts to Winograd */
    if (k->conv2d_fwd == difu_conv2d_fwd_shift && difu_winograd_fits(d)) {
        difu_conv2d_fwd_winograd_epilogue(k, d, x, weight, wino_u, bias, ep, y, scratch, ith,
                                          nth);
        return;
    }
    k->conv2d_fwd(k, d, x, weight, bias, y, scratch, ith, nth);
    if (!ep->channel && !ep->residual)
        return;
    if (nth > 1) { /* every plane of y written */
#pragma omp barrier
    }
    const int64_t planes = (int64_t)d->n * d->cout;
    difu_conv_epilogue_planes(ep, planes * ith / nth, planes * (ith + 1) / nth,
                              (int64_t)difu_conv2d_out_h(d) * difu_conv2d_out_w(d), y);
}
