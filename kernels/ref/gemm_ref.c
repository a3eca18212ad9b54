/* gemm_ref.c: the reference GEMM (the test oracle) and the plain-C 4x8 micro-kernel.
 *
 * gemm_ref: strided batched row-major C_b = alpha op(A_b) op(B_b) + beta C_b, summed in double,
 * one row of one matrix at a time; threads take whole rows.
 * f32_gemm_4x8_ref: C (4 x 8, row stride ldc) = (accumulate ? C : 0) + A_p B_p with A_p packed
 * k-major (a[p*4 + i]) and B_p packed k-major (b[p*8 + j]). */
#include "gemm_conv.h"

void gemm_ref(const difu_kernels *k, const difu_gemm_desc *d, const float *a, const float *b,
              float *c, void *scratch, int ith, int nth)
{
    (void)k;
    (void)scratch;
    int64_t rows = (int64_t)d->batch * d->m;
    int64_t r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) {
        int64_t bi = r / d->m;
        int i = (int)(r % d->m);
        const float *ab = a + bi * d->stride_a, *bb = b + bi * d->stride_b;
        float *crow = c + bi * d->stride_c + (int64_t)i * d->ldc;
        for (int j = 0; j < d->n; j++) {
            double sum = 0.0;
            for (int p = 0; p < d->k; p++) {
                float av = d->trans_a ? ab[(int64_t)p * d->lda + i] : ab[(int64_t)i * d->lda + p];
                float bv = d->trans_b ? bb[(int64_t)j * d->ldb + p] : bb[(int64_t)p * d->ldb + j];
                sum += (double)av * bv;
            }
            double v = d->alpha * sum;
            if (d->beta != 0.0f)
                v += (double)d->beta * crow[j];
            crow[j] = (float)v;
        }
    }
}

void f32_gemm_4x8_ref(int kc, const float *a, const float *b, float *c, int64_t ldc,
                      int accumulate)
{
    float acc[4][8] = {{0}};
    for (int p = 0; p < kc; p++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
                acc[i][j] += a[p * 4 + i] * b[p * 8 + j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
