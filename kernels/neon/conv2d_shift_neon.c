/* conv2d_shift_neon.c: NEON micro-kernels of the shifted-pointer convolutions
 * (kernels/conv2d_shift.c).
 * f32_conv_shift_8x3v_neon: difu_conv_shift_fn with mr = 8, vl = 4, nv <= 3 (24 q accumulators):
 *   per k, nv unaligned loads of the slab and 8 scalar weight loads (fmla by element).
 * f32_conv_shift_1x3v_neon: its one-row form (fn1), for row blocks with 1 or 2 valid rows.
 * f32_conv_dot_4x6_neon: difu_conv_dot_fn with mr = 4, nk = 6, vl = 4 (24 q accumulators):
 *   per 4 points, 6 shifted slab loads and 4 dy loads; lanes summed at the end. */
#include <arm_neon.h>

#include "gemm_conv.h"

/* Rows 0..rows-1 (rows 1 or 8, a constant after inlining, as nv is): row i does the same FMAs
 * in the same order for any rows, so the one-row kernel gives the 8-row kernel's bits. */
static inline __attribute__((always_inline)) void
shift_rows(const int rows, int kc, const float *a, int64_t lda, const int32_t *aoff,
           const float *b, const int32_t *boff, const int nv, float *c, int64_t ldc,
           int accumulate)
{
    float32x4_t acc[8][3];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < 3; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    for (int p = 0; p < kc; p++) {
        const float *bp = b + boff[p];
        const float *ap = a + aoff[p];
        float32x4_t b0 = vld1q_f32(bp);
        float32x4_t b1 = nv > 1 ? vld1q_f32(bp + 4) : b0;
        float32x4_t b2 = nv > 2 ? vld1q_f32(bp + 8) : b0;
        for (int i = 0; i < rows; i++) {
            float ai = ap[i * lda];
            acc[i][0] = vfmaq_n_f32(acc[i][0], b0, ai);
            if (nv > 1)
                acc[i][1] = vfmaq_n_f32(acc[i][1], b1, ai);
            if (nv > 2)
                acc[i][2] = vfmaq_n_f32(acc[i][2], b2, ai);
        }
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < nv; j++)
            vst1q_f32(c + i * ldc + 4 * j,
                      accumulate ? vaddq_f32(acc[i][j], vld1q_f32(c + i * ldc + 4 * j))
                                 : acc[i][j]);
}

/* shift_rows with nv a constant. */
static inline __attribute__((always_inline)) void
shift_nv(const int rows, int kc, const float *a, int64_t lda, const int32_t *aoff,
         const float *b, const int32_t *boff, int nv, float *c, int64_t ldc, int accumulate)
{
    if (nv >= 3)
        shift_rows(rows, kc, a, lda, aoff, b, boff, 3, c, ldc, accumulate);
    else if (nv == 2)
        shift_rows(rows, kc, a, lda, aoff, b, boff, 2, c, ldc, accumulate);
    else
        shift_rows(rows, kc, a, lda, aoff, b, boff, 1, c, ldc, accumulate);
}

void f32_conv_shift_8x3v_neon(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate)
{
    shift_nv(8, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

void f32_conv_shift_1x3v_neon(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate)
{
    shift_nv(1, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

void f32_conv_dot_4x6_neon(int64_t nvec, const float *const *dy, const float *b,
                           const int32_t *boff, float *out)
{
    float32x4_t acc[4][6];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    for (int64_t q = 0; q < nvec * 4; q += 4) {
        float32x4_t x[6];
        for (int j = 0; j < 6; j++)
            x[j] = vld1q_f32(b + boff[j] + q);
        for (int i = 0; i < 4; i++) {
            float32x4_t y = vld1q_f32(dy[i] + q);
            for (int j = 0; j < 6; j++)
                acc[i][j] = vfmaq_f32(acc[i][j], y, x[j]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            out[i * 6 + j] = vaddvq_f32(acc[i][j]);
}
