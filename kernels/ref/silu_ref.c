/* silu_ref.c: reference SiLU forward and backward, the test oracle.
 * Range kernels over n elements: y = x / (1 + exp(-x)); dx = dy * s * (1 + x * (1 - s)) with
 * s = 1 / (1 + exp(-x)). In-place (y == x, dx == dy) is allowed. */
#include <math.h>

#include "norm_ref.h"

void silu_fwd_ref(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

void silu_bwd_ref(int64_t n, const float *x, const float *dy, float *dx)
{
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}
