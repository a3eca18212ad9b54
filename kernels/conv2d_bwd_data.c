/* conv2d_bwd_data.c: backward-data convolution as implicit GEMMs on the table's micro-kernel.
 * dy [n, cout, oh, ow], weight [cout, cin, k, k] -> dx [n, cin, h, w] (overwritten).
 * dx is split into stride x stride phases (ih % stride, iw % stride); each phase is a small
 * stride-1 convolution of dy with the taps that reach it (stride 1: one phase, all k*k taps,
 * flipped; stride 2: 1, 2, 2 and 4 taps). GEMM per phase: m = cin, k = cout*taps (the weight read
 * transposed), n = the phase's points across all images, B packed straight from dy. Threads split
 * each phase's tiles; phases write disjoint pixels. */
#include "conv2d_pack.h"

void difu_conv2d_bwd_data_igemm(const difu_kernels *k, const difu_conv2d_desc *d,
                                const float *dy, const float *weight, float *dx, void *scratch,
                                int ith, int nth)
{
    const int s = d->stride, kk = d->k * d->k;
    int oh = (d->h + 2 * d->pad - d->k) / s + 1;
    int ow = (d->w + 2 * d->pad - d->k) / s + 1;
    for (int ph = 0; ph < s; ph++)
        for (int pw = 0; pw < s; pw++) {
            int ga = (d->h - ph + s - 1) / s, gb = (d->w - pw + s - 1) / s;
            if (ga <= 0 || gb <= 0)
                continue;
            difu_conv_taps src = {.x = dy, .n = d->n, .c = d->cout, .h = oh, .w = ow, .ga = ga,
                                  .gb = gb, .stride = 1, .taps = 0};
            difu_conv_weight wa = {.w = weight, .cout = d->cout, .cin = d->cin, .kk = kk,
                                   .trans = 1, .taps = 0};
            /* ih = s*oh + kh - pad with ih = s*a + ph  =>  oh = a + (ph + pad - kh) / s. */
            for (int kh = 0; kh < d->k; kh++)
                for (int kw = 0; kw < d->k; kw++) {
                    int nh = ph + d->pad - kh, nw = pw + d->pad - kw;
                    if (nh % s != 0 || nw % s != 0)
                        continue;
                    src.dh[src.taps] = nh / s;
                    src.dw[src.taps] = nw / s;
                    wa.tap[wa.taps] = kh * d->k + kw;
                    src.taps++;
                    wa.taps++;
                }
            difu_gemm_problem g = {
                .m = d->cin, .n = d->n * ga * gb, .k = d->cout * src.taps,
                .pack_a = difu_pack_a_weight, .ctx_a = &wa,
                .pack_b = k->gemm_ukernel.pack_b_conv ? k->gemm_ukernel.pack_b_conv : difu_pack_b_taps,
                .ctx_b = &src,
                .out = difu_conv_out(dx, d->cin, d->h, d->w, ga, gb, s, ph, pw),
                .bias = NULL,
                .accumulate = 0,
            };
            int m0, m1, n0, n1;
            difu_gemm_split(&k->gemm_ukernel, g.m, g.n, ith, nth, &m0, &m1, &n0, &n1);
            difu_gemm_run(k, &g, m0, m1, n0, n1, scratch);
        }
}
