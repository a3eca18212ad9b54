/* gemm_8x32_avx512.c: the AVX-512 GEMM micro-kernel, 8 x 32 (16 zmm accumulators).
 * C (8 x 32, row stride ldc) = (accumulate ? C : 0) + A_p B_p, A_p packed k-major (a[p*8 + i]),
 * B_p packed k-major (b[p*32 + j]). */
#include <immintrin.h>

#include "gemm_conv.h"

#define ROW(i)                                                                                     \
    do {                                                                                           \
        __m512 ai = _mm512_set1_ps(a[i]);                                                          \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                                \
    } while (0)

#define STORE(i)                                                                                   \
    do {                                                                                           \
        float *ci = c + (i) * ldc;                                                                 \
        if (accumulate) {                                                                          \
            c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(ci));                                 \
            c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(ci + 16));                            \
        }                                                                                          \
        _mm512_storeu_ps(ci, c##i##0);                                                             \
        _mm512_storeu_ps(ci + 16, c##i##1);                                                        \
    } while (0)

void f32_gemm_8x32_avx512(int kc, const float *a, const float *b, float *c, int64_t ldc,
                          int accumulate)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        ROW(6);
        ROW(7);
        a += 8;
        b += 32;
    }
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
    STORE(6);
    STORE(7);
}
