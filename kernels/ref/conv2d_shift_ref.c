/* conv2d_shift_ref.c: plain-C micro-kernels of the shifted-pointer convolutions
 * (kernels/conv2d_shift.c), so its drivers can be tested without SIMD.
 * f32_conv_shift_4x2v_ref: difu_conv_shift_fn with mr = 4, vl = 4, nv <= 2:
 *   c[i*ldc + j] = (accumulate ? c : 0) + sum over p of a[i*lda + aoff[p]] * b[boff[p] + j],
 *   i < 4, j < 4*nv.
 * f32_conv_dot_2x3_ref: difu_conv_dot_fn with mr = 2, nk = 3, vl = 4:
 *   out[i*3 + j] = sum over q < 4*nvec of dy[i][q] * b[boff[j] + q], summed per lane q % 4, then
 *   lanes 0..3 in order. */
#include "gemm_conv.h"

void f32_conv_shift_4x2v_ref(int kc, const float *a, int64_t lda, const int32_t *aoff,
                             const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                             int accumulate)
{
    float acc[4][8] = {{0}};
    const int n = 4 * nv;
    for (int p = 0; p < kc; p++) {
        const float *bp = b + boff[p];
        for (int i = 0; i < 4; i++) {
            float av = a[i * lda + aoff[p]];
            for (int j = 0; j < n; j++)
                acc[i][j] += av * bp[j];
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < n; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

void f32_conv_dot_2x3_ref(int64_t nvec, const float *const *dy, const float *b,
                          const int32_t *boff, float *out)
{
    float acc[2][3][4] = {{{0}}};
    for (int64_t q = 0; q < 4 * nvec; q += 4)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int l = 0; l < 4; l++)
                    acc[i][j][l] += dy[i][q + l] * b[boff[j] + q + l];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            out[i * 3 + j] = (acc[i][j][0] + acc[i][j][1]) + (acc[i][j][2] + acc[i][j][3]);
}
