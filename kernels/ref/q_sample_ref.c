/* q_sample_ref.c: reference forward noising of one image's elements [offset, offset + n):
 * eps[i] = randn(seed, step, stream, offset + i), xt[i] = a * x0[i] + b * eps[i]. */
#include "update_ref.h"

void q_sample_ref(int64_t n, const float *x0, float a, float b, uint64_t seed, uint64_t step,
                  uint64_t stream, int64_t offset, float *eps, float *xt)
{
    randn_ref(seed, step, stream, offset, n, eps);
    for (int64_t i = 0; i < n; i++)
        xt[i] = difu_q_sample_elem(a, b, x0[i], eps[i]);
}
