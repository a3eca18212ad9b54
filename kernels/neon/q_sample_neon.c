/* q_sample_neon.c: forward noising of one image's elements [offset, offset + n), 16 at a time:
 * eps = randn (drawn in registers), xt = fma(a, x0, b * eps), as difu_q_sample_elem. Partial
 * groups go through a buffer and the scalar formula (same bits). */
#include "philox_neon.h"
#include "ref/update_ref.h"
#include "update_neon.h"

void q_sample_neon(int64_t n, const float *x0, float a, float b, uint64_t seed, uint64_t step,
                   uint64_t stream, int64_t offset, float *eps, float *xt)
{
    const float32x4_t va = vdupq_n_f32(a);
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        float32x4_t z[4];
        difu_randn16_neon(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        int64_t i = j - offset;
        if (base == j && end - j >= DIFU_NEON_GROUP) {
            for (int g = 0; g < 4; g++) {
                float32x4_t x = vld1q_f32(x0 + i + 4 * g);
                vst1q_f32(eps + i + 4 * g, z[g]);
                vst1q_f32(xt + i + 4 * g, vfmaq_f32(vmulq_n_f32(z[g], b), va, x));
            }
            j += DIFU_NEON_GROUP;
            continue;
        }
        float buf[DIFU_NEON_GROUP];
        for (int g = 0; g < 4; g++)
            vst1q_f32(buf + 4 * g, z[g]);
        int64_t stop = base + DIFU_NEON_GROUP < end ? base + DIFU_NEON_GROUP : end;
        for (; j < stop; j++) {
            float e = buf[j - base];
            eps[j - offset] = e;
            xt[j - offset] = difu_q_sample_elem(a, b, x0[j - offset], e);
        }
    }
}
