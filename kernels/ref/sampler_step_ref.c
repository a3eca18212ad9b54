/* sampler_step_ref.c: reference reverse step on one image's elements [offset, offset + n) of x,
 * in place (formula in difu.h, per element in update_ref.h). z = randn(seed, step, stream,
 * offset + i) is drawn, one Philox block per 4 elements, only when sigma != 0. */
#include "update_ref.h"

void sampler_step_ref(int64_t n, const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                      uint64_t step, uint64_t stream, int64_t offset, float *x)
{
    float z[4];
    for (int64_t i = 0; i < n; i++) {
        float r = difu_sampler_elem(c, x[i], eps[i]);
        if (c->sigma != 0.0f) {
            int64_t j = offset + i;
            if (i == 0 || (j & 3) == 0)
                difu_randn_block(seed, step, (uint32_t)stream, (uint32_t)(j >> 2), z);
            r = fmaf(c->sigma, z[j & 3], r);
        }
        x[i] = r;
    }
}
