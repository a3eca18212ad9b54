/* conv2d_fwd.c: forward convolution as an implicit GEMM on the table's micro-kernel.
 * x [n, cin, h, w], weight [cout, cin, k, k], bias [cout] or NULL -> y [n, cout, oh, ow].
 * GEMM: m = cout, k = cin*k*k (the weight rows as they are), n = n*oh*ow grid points across all
 * images, with B packed straight from x (no im2col buffer). Threads split the m x n tiles. */
#include "conv2d_pack.h"

void difu_conv2d_fwd_igemm(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                           const float *weight, const float *bias, float *y, void *scratch,
                           int ith, int nth)
{
    int oh = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    int ow = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    int kk = d->k * d->k;
    difu_conv_taps src = {.x = x, .n = d->n, .c = d->cin, .h = d->h, .w = d->w, .ga = oh,
                          .gb = ow, .stride = d->stride, .taps = kk};
    difu_conv_weight wa = {.w = weight, .cout = d->cout, .cin = d->cin, .kk = kk, .trans = 0,
                           .taps = kk};
    for (int t = 0; t < kk; t++) {
        src.dh[t] = t / d->k - d->pad;
        src.dw[t] = t % d->k - d->pad;
        wa.tap[t] = t;
    }
    difu_gemm_problem g = {
        .m = d->cout, .n = d->n * oh * ow, .k = d->cin * kk,
        .pack_a = difu_pack_a_weight, .ctx_a = &wa,
        .pack_b = k->gemm_ukernel.pack_b_conv ? k->gemm_ukernel.pack_b_conv : difu_pack_b_taps,
                .ctx_b = &src,
        .out = difu_conv_out(y, d->cout, oh, ow, oh, ow, 1, 0, 0),
        .bias = bias,
        .accumulate = 0,
    };
    int m0, m1, n0, n1;
    difu_gemm_split(&k->gemm_ukernel, g.m, g.n, ith, nth, &m0, &m1, &n0, &n1);
    difu_gemm_run(k, &g, m0, m1, n0, n1, scratch);
}
