/* conv2d_bwd_weights.c: backward-weights convolution as an implicit GEMM on the table's
 * micro-kernel. x [n, cin, h, w], dy [n, cout, oh, ow] -> dweight [cout, cin, k, k] and
 * dbias [cout] (or NULL), both overwritten.
 * GEMM: m = cout, n = cin*k*k, k = n*oh*ow grid points of all images; A packed from dy, B from x
 * (the transposed im2col, read in place).
 * When dweight is small (BATCH_HALF_FLOATS) the batch is cut into two halves
 * (kernels/batch_halves.c), the second's sums in thread 0's scratch past the GEMM's packing
 * space: two threads then each pack half of the operands instead of both packing all of one.
 * The bits are the same for any nth. dbias is split by channel. */
#include "conv2d_pack.h"
#include "gemm_conv.h"

enum { BATCH_HALF_FLOATS = 64 * 1024 };

size_t difu_conv2d_bwd_weights_igemm_scratch_bytes(const difu_gemm_ukernel *u)
{
    return difu_gemm_scratch_bytes(u) + 64 + BATCH_HALF_FLOATS * sizeof(float);
}

/* dweight_part = the GEMM over images [i0, i1), tiles [m0, m1) x [n0, n1). */
static void bwd_weights_images(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                               const float *dy, int i0, int i1, float *dweight_part, int m0,
                               int m1, int n0, int n1, void *scratch)
{
    int oh = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    int ow = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    int kk = d->k * d->k;
    int64_t npix = (int64_t)oh * ow;
    difu_conv_taps src = {.x = x + (int64_t)i0 * d->cin * d->h * d->w, .n = i1 - i0, .c = d->cin,
                          .h = d->h, .w = d->w, .ga = oh, .gb = ow, .stride = d->stride,
                          .taps = kk};
    for (int t = 0; t < kk; t++) {
        src.dh[t] = t / d->k - d->pad;
        src.dw[t] = t % d->k - d->pad;
    }
    difu_conv_rows rows = {.y = dy + (int64_t)i0 * d->cout * npix, .rows = d->cout, .npix = npix};
    difu_gemm_problem g = {
        .m = d->cout, .n = d->cin * kk, .k = (int)((i1 - i0) * npix),
        .pack_a = difu_pack_a_rows, .ctx_a = &rows,
        .pack_b = difu_pack_b_taps_t, .ctx_b = &src,
        .out = difu_gemm_out_matrix(dweight_part, (int64_t)d->cin * kk, d->cin * kk),
        .bias = NULL,
        .accumulate = 0,
        .k_outer = 1,
    };
    difu_gemm_run(k, &g, m0, m1, n0, n1, scratch);
}

void difu_conv2d_bwd_weights_igemm(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth)
{
    const int m = d->cout, n = d->cin * d->k * d->k;
    const int64_t mn = (int64_t)m * n;
    int m0, m1, n0, n1;
    if (d->n < 2 || mn > BATCH_HALF_FLOATS) {
        difu_gemm_split(&k->gemm_ukernel, m, n, ith, nth, &m0, &m1, &n0, &n1);
        bwd_weights_images(k, d, x, dy, 0, d->n, dweight, m0, m1, n0, n1, scratch);
    } else {
        /* thread 0's scratch, past its packing space: the team's scratch is one block */
        size_t gemm_bytes = (difu_gemm_scratch_bytes(&k->gemm_ukernel) + 63) & ~(size_t)63;
        char *team0 = (char *)scratch - (size_t)ith * k->scratch_per_thread;
        float *second = (float *)(((uintptr_t)team0 + gemm_bytes + 63) & ~(uintptr_t)63);
        const int half = d->n / 2;
        for (int part = 0; part < 2; part++) {
            int sub_ith, sub_nth;
            if (!difu_half_team(part, ith, nth, &sub_ith, &sub_nth))
                continue;
            difu_gemm_split(&k->gemm_ukernel, m, n, sub_ith, sub_nth, &m0, &m1, &n0, &n1);
            bwd_weights_images(k, d, x, dy, part ? half : 0, part ? d->n : half,
                               part ? second : dweight, m0, m1, n0, n1, scratch);
        }
        difu_add_second_half(dweight, second, mn, ith, nth);
        /* thread 0's scratch holds `second` until every thread has read it */
        if (nth > 1) {
#pragma omp barrier
        }
    }
    if (!dbias)
        return;
    difu_conv2d_bias_grad(dy, d->n, d->cout, (int64_t)difu_conv2d_out_h(d) * difu_conv2d_out_w(d),
                          dbias, ith, nth);
}
