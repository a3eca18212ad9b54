/* gemm_6x16_avx2.c: the AVX2+FMA GEMM micro-kernel, 6 x 16 (12 ymm accumulators).
 * C (6 x 16, row stride ldc) = (accumulate ? C : 0) + A_p B_p, A_p packed k-major (a[p*6 + i]),
 * B_p packed k-major (b[p*16 + j]). */
#include <immintrin.h>

#include "gemm_conv.h"

#define ROW(i)                                                                                     \
    do {                                                                                           \
        __m256 ai = _mm256_broadcast_ss(a + (i));                                                 \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                                \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                                \
    } while (0)

#define STORE(i)                                                                                   \
    do {                                                                                           \
        float *ci = c + (i) * ldc;                                                                 \
        if (accumulate) {                                                                          \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(ci));                                 \
            c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(ci + 8));                             \
        }                                                                                          \
        _mm256_storeu_ps(ci, c##i##0);                                                             \
        _mm256_storeu_ps(ci + 8, c##i##1);                                                         \
    } while (0)

void f32_gemm_6x16_avx2(int kc, const float *a, const float *b, float *c, int64_t ldc,
                        int accumulate)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        a += 6;
        b += 16;
    }
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
}
