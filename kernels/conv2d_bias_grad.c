/* conv2d_bias_grad.c: the bias gradient of a convolution, dbias[co] = sum over images and output
 * points of dy [n, cout, npix]. Each plane is summed in float over 8 interleaved lanes (which the
 * compiler vectorises) and the planes in double, in image order; threads split the channels, so
 * the bits do not depend on the thread count. */
#include "gemm_conv.h"

static double plane_sum(const float *p, int64_t npix)
{
    float lane[8] = {0};
    int64_t q = 0;
    for (; q + 8 <= npix; q += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += p[q + j];
    double sum = 0.0;
    for (int j = 0; j < 8; j++)
        sum += lane[j];
    for (; q < npix; q++)
        sum += p[q];
    return sum;
}

void difu_conv2d_bias_grad(const float *dy, int n, int cout, int64_t npix, float *dbias, int ith,
                           int nth)
{
    int c0 = (int)((int64_t)cout * ith / nth), c1 = (int)((int64_t)cout * (ith + 1) / nth);
    for (int co = c0; co < c1; co++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += plane_sum(dy + ((int64_t)i * cout + co) * npix, npix);
        dbias[co] = (float)sum;
    }
}
