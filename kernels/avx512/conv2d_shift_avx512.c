/* conv2d_shift_avx512.c: AVX-512 micro-kernels of the shifted-pointer convolutions
 * (kernels/conv2d_shift.c).
 * f32_conv_shift_8x3v_avx512: difu_conv_shift_fn with mr = 8, vl = 16, nv <= 3 (24 zmm
 *   accumulators): per k, nv unaligned loads of the slab and 8 weight broadcasts.
 * f32_conv_shift_1x3v_avx512: its one-row form (fn1), for row blocks with 1 or 2 valid rows.
 * f32_conv_dot_4x6_avx512: difu_conv_dot_fn with mr = 4, nk = 6, vl = 16 (24 zmm accumulators):
 *   per 16 points, 4 dy loads and 6 shifted slab loads; lanes summed at the end. */
#include <immintrin.h>

#include "gemm_conv.h"

#define FMA_ROW(i)                                                                                 \
    do {                                                                                           \
        if ((i) >= rows)                                                                           \
            break;                                                                                 \
        __m512 ai = _mm512_set1_ps(a##i[q]);                                                       \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                \
        if (nv > 1)                                                                                \
            c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                            \
        if (nv > 2)                                                                                \
            c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                                            \
    } while (0)

#define STORE_ROW(i)                                                                               \
    do {                                                                                           \
        if ((i) >= rows)                                                                           \
            break;                                                                                 \
        if (accumulate) {                                                                          \
            c##i##0 = _mm512_add_ps(c##i##0, _mm512_loadu_ps(c + (i) * ldc));                      \
            if (nv > 1)                                                                            \
                c##i##1 = _mm512_add_ps(c##i##1, _mm512_loadu_ps(c + (i) * ldc + 16));             \
            if (nv > 2)                                                                            \
                c##i##2 = _mm512_add_ps(c##i##2, _mm512_loadu_ps(c + (i) * ldc + 32));             \
        }                                                                                          \
        _mm512_storeu_ps(c + (i) * ldc, c##i##0);                                                  \
        if (nv > 1)                                                                                \
            _mm512_storeu_ps(c + (i) * ldc + 16, c##i##1);                                         \
        if (nv > 2)                                                                                \
            _mm512_storeu_ps(c + (i) * ldc + 32, c##i##2);                                         \
    } while (0)

/* Rows 0..rows-1 (rows 1 or 8, a constant after inlining, as nv is): row i does the same FMAs
 * in the same order for any rows, so the one-row kernel gives the 8-row kernel's bits. */
static inline __attribute__((always_inline)) void
shift_rows(const int rows, int kc, const float *a, int64_t lda, const int32_t *aoff,
           const float *b, const int32_t *boff, const int nv, float *c, int64_t ldc,
           int accumulate)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    const float *a4 = a + 4 * lda, *a5 = a + 5 * lda, *a6 = a + 6 * lda, *a7 = a + 7 * lda;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m512 c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    __m512 c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int p = 0; p < kc; p++) {
        const float *bp = b + boff[p];
        const int64_t q = aoff[p];
        __m512 b0 = _mm512_loadu_ps(bp);
        __m512 b1 = nv > 1 ? _mm512_loadu_ps(bp + 16) : b0;
        __m512 b2 = nv > 2 ? _mm512_loadu_ps(bp + 32) : b0;
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
        FMA_ROW(3);
        FMA_ROW(4);
        FMA_ROW(5);
        FMA_ROW(6);
        FMA_ROW(7);
    }
    STORE_ROW(0);
    STORE_ROW(1);
    STORE_ROW(2);
    STORE_ROW(3);
    STORE_ROW(4);
    STORE_ROW(5);
    STORE_ROW(6);
    STORE_ROW(7);
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

void f32_conv_shift_8x3v_avx512(int kc, const float *a, int64_t lda, const int32_t *aoff,
                                const float *b, const int32_t *boff, int nv, float *c,
                                int64_t ldc, int accumulate)
{
    shift_nv(8, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

void f32_conv_shift_1x3v_avx512(int kc, const float *a, int64_t lda, const int32_t *aoff,
                                const float *b, const int32_t *boff, int nv, float *c,
                                int64_t ldc, int accumulate)
{
    shift_nv(1, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

#define DOT_ROW(i)                                                                                 \
    do {                                                                                           \
        __m512 y = _mm512_loadu_ps(d##i + q);                                                      \
        c##i##0 = _mm512_fmadd_ps(y, x0, c##i##0);                                                 \
        c##i##1 = _mm512_fmadd_ps(y, x1, c##i##1);                                                 \
        c##i##2 = _mm512_fmadd_ps(y, x2, c##i##2);                                                 \
        c##i##3 = _mm512_fmadd_ps(y, x3, c##i##3);                                                 \
        c##i##4 = _mm512_fmadd_ps(y, x4, c##i##4);                                                 \
        c##i##5 = _mm512_fmadd_ps(y, x5, c##i##5);                                                 \
    } while (0)

/* Lane sums of 4 vectors per 128-bit lane: r[L] = {sum a[L], sum b[L], sum c[L], sum d[L]}. */
static inline __m512 sum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 s = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 t = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    return _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(s), _mm512_castps_pd(t))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(s), _mm512_castps_pd(t))));
}

/* Folds the 128-bit lanes of two sum4 results: {u[0]+u[1], u[2]+u[3], w[0]+w[1], w[2]+w[3]}. */
static inline __m512 fold(__m512 u, __m512 w)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(u, w, 0x88), _mm512_shuffle_f32x4(u, w, 0xDD));
}

void f32_conv_dot_4x6_avx512(int64_t nvec, const float *const *dy, const float *b,
                             const int32_t *boff, float *out)
{
    const float *d0 = dy[0], *d1 = dy[1], *d2 = dy[2], *d3 = dy[3];
    const float *p0 = b + boff[0], *p1 = b + boff[1], *p2 = b + boff[2];
    const float *p3 = b + boff[3], *p4 = b + boff[4], *p5 = b + boff[5];
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
    for (int64_t q = 0; q < nvec * 16; q += 16) {
        __m512 x0 = _mm512_loadu_ps(p0 + q), x1 = _mm512_loadu_ps(p1 + q);
        __m512 x2 = _mm512_loadu_ps(p2 + q), x3 = _mm512_loadu_ps(p3 + q);
        __m512 x4 = _mm512_loadu_ps(p4 + q), x5 = _mm512_loadu_ps(p5 + q);
        DOT_ROW(0);
        DOT_ROW(1);
        DOT_ROW(2);
        DOT_ROW(3);
    }
    /* out[i*6 + j] = lane sum of c_ij: 16 results in one vector, then 8. */
    __m512 u0 = sum4(c00, c01, c02, c03), u1 = sum4(c04, c05, c10, c11);
    __m512 u2 = sum4(c12, c13, c14, c15), u3 = sum4(c20, c21, c22, c23);
    _mm512_storeu_ps(out, fold(fold(u0, u1), fold(u2, u3)));
    __m512 u4 = sum4(c24, c25, c30, c31), u5 = sum4(c32, c33, c34, c35);
    __m512 w = fold(u4, u5);
    _mm256_storeu_ps(out + 16, _mm512_castps512_ps256(fold(w, w)));
}
