/* conv2d_bias_grad.c: the bias gradient of a convolution, dbias[co] = sum over images and output
 * points of dy [n, cout, npix]. A channel's planes are summed in float over 8 interleaved lanes
 * (which the compiler vectorises) plus a tail sum, in image order, then added in double; threads
 * split the channels, so the bits do not depend on the thread count. */
#include "gemm_conv.h"

static float channel_sum(const float *dy, int n, int64_t plane_stride, int64_t npix)
{
    float lane[8] = {0}, tail = 0.0f;
    for (int i = 0; i < n; i++) {
        const float *p = dy + (int64_t)i * plane_stride;
        int64_t q = 0;
        for (; q + 8 <= npix; q += 8)
            for (int j = 0; j < 8; j++)
                lane[j] += p[q + j];
        for (; q < npix; q++)
            tail += p[q];
    }
    double sum = tail;
    for (int j = 0; j < 8; j++)
        sum += lane[j];
    return (float)sum;
}

void difu_conv2d_bias_grad(const float *dy, int n, int cout, int64_t npix, float *dbias, int ith,
                           int nth)
{
    int c0 = (int)((int64_t)cout * ith / nth), c1 = (int)((int64_t)cout * (ith + 1) / nth);
    for (int co = c0; co < c1; co++)
        dbias[co] = channel_sum(dy + (int64_t)co * npix, n, (int64_t)cout * npix, npix);
}
