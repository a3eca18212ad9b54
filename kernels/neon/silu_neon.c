/* silu_neon.c: SiLU forward and backward with aarch64 Advanced SIMD.
 * Range kernels over n elements: y = x / (1 + exp(-x)); dx = dy * s * (1 + x * (1 - s)),
 * s = sigmoid(x). The tail goes through the same vector code (partial loads/stores), so each
 * element's result does not depend on where the range is cut. In-place is allowed. */
#include "norm_neon.h"
#include "vmath_neon.h"

void silu_fwd_neon(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = difu_silu_neon(vld1q_f32(x + i));
        float32x4_t b = difu_silu_neon(vld1q_f32(x + i + 4));
        vst1q_f32(y + i, a);
        vst1q_f32(y + i + 4, b);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, difu_silu_neon(vld1q_f32(x + i)));
    if (i < n)
        difu_store_tail_neon(y + i, difu_silu_neon(difu_load_tail_neon(x + i, (int)(n - i), 0.0f)),
                             (int)(n - i));
}

void silu_bwd_neon(int64_t n, const float *x, const float *dy, float *dx)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dx + i, vmulq_f32(vld1q_f32(dy + i), difu_dsilu_neon(vld1q_f32(x + i))));
    if (i < n) {
        const int rem = (int)(n - i);
        float32x4_t g = vmulq_f32(difu_load_tail_neon(dy + i, rem, 0.0f),
                                  difu_dsilu_neon(difu_load_tail_neon(x + i, rem, 0.0f)));
        difu_store_tail_neon(dx + i, g, rem);
    }
}
