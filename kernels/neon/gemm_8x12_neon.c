/* gemm_8x12_neon.c: the NEON GEMM micro-kernel, 8 x 12 (24 q accumulators, vfmaq_laneq_f32).
 * C (8 x 12, row stride ldc) = (accumulate ? C : 0) + A_p B_p, A_p packed k-major (a[p*8 + i]),
 * B_p packed k-major (b[p*12 + j]). */
#include <arm_neon.h>

#include "gemm_conv.h"

void f32_gemm_8x12_neon(int kc, const float *a, const float *b, float *c, int64_t ldc,
                        int accumulate)
{
    float32x4_t acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 3; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    for (int p = 0; p < kc; p++) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
#define ROW(i, av, lane)                                                                           \
    acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane);                                          \
    acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane);                                          \
    acc[i][2] = vfmaq_laneq_f32(acc[i][2], b2, av, lane);
        ROW(0, a0, 0)
        ROW(1, a0, 1)
        ROW(2, a0, 2)
        ROW(3, a0, 3)
        ROW(4, a1, 0)
        ROW(5, a1, 1)
        ROW(6, a1, 2)
        ROW(7, a1, 3)
#undef ROW
        a += 8;
        b += 12;
    }
    for (int i = 0; i < 8; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < 3; j++) {
            float32x4_t v = acc[i][j];
            if (accumulate)
                v = vaddq_f32(v, vld1q_f32(ci + 4 * j));
            vst1q_f32(ci + 4 * j, v);
        }
    }
}
