/* conv2d_pack.h: pack callbacks (gemm_driver.h) that read convolution operands in place, so the
 * implicit-GEMM convolutions need no im2col buffer.
 *
 * A tap source describes a virtual im2col matrix over an NCHW tensor x [n, c, h, w]: its columns
 * are the points (img, a, b) of a ga x gb grid per image, its rows the (channel, tap) pairs
 * row = ch * taps + t, and its element is x[img][ch][a*stride + dh[t]][b*stride + dw[t]] (zero
 * outside the image). */
#ifndef DIFU_CONV2D_PACK_H
#define DIFU_CONV2D_PACK_H

#include "gemm_driver.h"

typedef struct difu_conv_taps {
    const float *x;
    int n, c, h, w;
    int ga, gb;
    int stride;
    int taps;
    int dh[9], dw[9];
} difu_conv_taps;

/* A weight [cout, cin, k*k] read as an A operand.
 * trans = 0: A[co][ci*taps + t] = w[co][ci][tap[t]]       (m = cout, forward)
 * trans = 1: A[ci][co*taps + t] = w[co][ci][tap[t]]       (m = cin, backward data) */
typedef struct difu_conv_weight {
    const float *w;
    int cout, cin, kk;
    int trans;
    int taps;
    int tap[9];
} difu_conv_weight;

/* A[row][p] over the points p = (img, pixel) of a [n, rows, npix] tensor (dy in backward-weights). */
typedef struct difu_conv_rows {
    const float *y;
    int rows;
    int64_t npix;
} difu_conv_rows;

/* B = the tap source's im2col matrix: k index = (channel, tap), columns = grid points. */
void difu_pack_b_taps(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst);
/* B = its transpose: k index = grid point, columns = (channel, tap). */
void difu_pack_b_taps_t(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst);
void difu_pack_a_weight(const void *ctx, int i0, int rows, int p0, int kc, int mr, float *dst);
void difu_pack_a_rows(const void *ctx, int i0, int rows, int p0, int kc, int mr, float *dst);

/* The output of a convolution-shaped GEMM: rows are channels of a [n, ch, h, w] tensor, columns
 * the ga x gb grid points placed at (a*step + oa, b*step + ob). */
difu_gemm_out difu_conv_out(float *y, int ch, int h, int w, int ga, int gb, int step, int oa,
                            int ob);

#endif /* DIFU_CONV2D_PACK_H */
