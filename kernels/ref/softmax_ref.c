/* softmax_ref.c: reference row softmax forward and backward, the test oracle.
 * Range kernels over rows of a rows x cols row-major matrix:
 *   y = exp(scale * x - max(scale * x)) / sum(...);  dx = scale * y * (dy - sum(dy * y)).
 * Sums are taken in double. In-place (y == x, dx == dy) is allowed. */
#include <math.h>

#include "norm_ref.h"

void softmax_fwd_ref(int64_t rows, int cols, float scale, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = -INFINITY;
        for (int j = 0; j < cols; j++)
            m = fmaxf(m, scale * xr[j]);
        double sum = 0;
        for (int j = 0; j < cols; j++) {
            yr[j] = expf(scale * xr[j] - m);
            sum += yr[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int j = 0; j < cols; j++)
            yr[j] *= inv;
    }
}

void softmax_bwd_ref(int64_t rows, int cols, float scale, const float *y, const float *dy,
                     float *dx)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        double dot = 0;
        for (int j = 0; j < cols; j++)
            dot += (double)dyr[j] * yr[j];
        const float fdot = (float)dot;
        for (int j = 0; j < cols; j++)
            dxr[j] = scale * yr[j] * (dyr[j] - fdot);
    }
}
