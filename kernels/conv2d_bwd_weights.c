/* conv2d_bwd_weights.c: backward-weights convolution as an implicit GEMM on the table's
 * micro-kernel. x [n, cin, h, w], dy [n, cout, oh, ow] -> dweight [cout, cin, k, k] and
 * dbias [cout] (or NULL), both overwritten.
 * GEMM: m = cout, n = cin*k*k, k = n*oh*ow grid points of all images; A packed from dy, B from x
 * (the transposed im2col, read in place). Threads split the dweight tiles and each sums over all
 * images itself, and dbias by channel: no cross-thread reduction, the same bits for any nth. */
#include "conv2d_pack.h"
#include "gemm_conv.h"

void difu_conv2d_bwd_weights_igemm(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth)
{
    int oh = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    int ow = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    int kk = d->k * d->k;
    int64_t npix = (int64_t)oh * ow;
    difu_conv_taps src = {.x = x, .n = d->n, .c = d->cin, .h = d->h, .w = d->w, .ga = oh,
                          .gb = ow, .stride = d->stride, .taps = kk};
    for (int t = 0; t < kk; t++) {
        src.dh[t] = t / d->k - d->pad;
        src.dw[t] = t % d->k - d->pad;
    }
    difu_conv_rows rows = {.y = dy, .rows = d->cout, .npix = npix};
    difu_gemm_problem g = {
        .m = d->cout, .n = d->cin * kk, .k = (int)(d->n * npix),
        .pack_a = difu_pack_a_rows, .ctx_a = &rows,
        .pack_b = difu_pack_b_taps_t, .ctx_b = &src,
        .out = difu_gemm_out_matrix(dweight, (int64_t)d->cin * kk, d->cin * kk),
        .bias = NULL,
        .accumulate = 0,
        .k_outer = 1,
    };
    int m0, m1, n0, n1;
    difu_gemm_split(&k->gemm_ukernel, g.m, g.n, ith, nth, &m0, &m1, &n0, &n1);
    difu_gemm_run(k, &g, m0, m1, n0, n1, scratch);
    if (!dbias)
        return;
    difu_conv2d_bias_grad(dy, d->n, d->cout, npix, dbias, ith, nth);
}
