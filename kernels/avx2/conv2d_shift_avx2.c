/* conv2d_shift_avx2.c: AVX2+FMA micro-kernels of the shifted-pointer convolutions
 * (kernels/conv2d_shift.c).
 * f32_conv_shift_4x3v_avx2: difu_conv_shift_fn with mr = 4, vl = 8, nv <= 3 (12 ymm
 *   accumulators): per k, nv unaligned loads of the slab and 4 weight broadcasts.
 * f32_conv_shift_1x3v_avx2: its one-row form (fn1), for row blocks with 1 valid row.
 * f32_conv_dot_4x3_avx2: difu_conv_dot_fn with mr = 4, nk = 3, vl = 8 (12 ymm accumulators):
 *   per 8 points, 3 shifted slab loads and 4 dy loads; lanes summed at the end. */
#include <immintrin.h>

#include "gemm_conv.h"

#define FMA_ROW(i)                                                                                 \
    do {                                                                                           \
        if ((i) >= rows)                                                                           \
            break;                                                                                 \
        __m256 ai = _mm256_broadcast_ss(a##i + q);                                                 \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                                                \
        if (nv > 1)                                                                                \
            c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                                            \
        if (nv > 2)                                                                                \
            c##i##2 = _mm256_fmadd_ps(ai, b2, c##i##2);                                            \
    } while (0)

#define STORE_ROW(i)                                                                               \
    do {                                                                                           \
        if ((i) >= rows)                                                                           \
            break;                                                                                 \
        if (accumulate) {                                                                          \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_loadu_ps(c + (i) * ldc));                      \
            if (nv > 1)                                                                            \
                c##i##1 = _mm256_add_ps(c##i##1, _mm256_loadu_ps(c + (i) * ldc + 8));              \
            if (nv > 2)                                                                            \
                c##i##2 = _mm256_add_ps(c##i##2, _mm256_loadu_ps(c + (i) * ldc + 16));             \
        }                                                                                          \
        _mm256_storeu_ps(c + (i) * ldc, c##i##0);                                                  \
        if (nv > 1)                                                                                \
            _mm256_storeu_ps(c + (i) * ldc + 8, c##i##1);                                          \
        if (nv > 2)                                                                                \
            _mm256_storeu_ps(c + (i) * ldc + 16, c##i##2);                                         \
    } while (0)

/* Rows 0..rows-1 (rows 1 or 4, a constant after inlining, as nv is): row i does the same FMAs
 * in the same order for any rows, so the one-row kernel gives the 4-row kernel's bits. */
static inline __attribute__((always_inline)) void
shift_rows(const int rows, int kc, const float *a, int64_t lda, const int32_t *aoff,
           const float *b, const int32_t *boff, const int nv, float *c, int64_t ldc,
           int accumulate)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (int p = 0; p < kc; p++) {
        const float *bp = b + boff[p];
        const int64_t q = aoff[p];
        __m256 b0 = _mm256_loadu_ps(bp);
        __m256 b1 = nv > 1 ? _mm256_loadu_ps(bp + 8) : b0;
        __m256 b2 = nv > 2 ? _mm256_loadu_ps(bp + 16) : b0;
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
        FMA_ROW(3);
    }
    STORE_ROW(0);
    STORE_ROW(1);
    STORE_ROW(2);
    STORE_ROW(3);
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

void f32_conv_shift_4x3v_avx2(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate)
{
    shift_nv(4, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

void f32_conv_shift_1x3v_avx2(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate)
{
    shift_nv(1, kc, a, lda, aoff, b, boff, nv, c, ldc, accumulate);
}

/* The lane sums of four vectors: {sum a, sum b, sum c, sum d}. */
static inline __m128 sum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 s = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 t = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256 u = _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(s), _mm256_castps_pd(t))),
        _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(s), _mm256_castps_pd(t))));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

#define DOT_ROW(i)                                                                                 \
    do {                                                                                           \
        __m256 y = _mm256_loadu_ps(d##i + q);                                                      \
        c##i##0 = _mm256_fmadd_ps(y, x0, c##i##0);                                                 \
        c##i##1 = _mm256_fmadd_ps(y, x1, c##i##1);                                                 \
        c##i##2 = _mm256_fmadd_ps(y, x2, c##i##2);                                                 \
    } while (0)


void f32_conv_dot_4x3_avx2(int64_t nvec, const float *const *dy, const float *b,
                           const int32_t *boff, float *out)
{
    const float *d0 = dy[0], *d1 = dy[1], *d2 = dy[2], *d3 = dy[3];
    const float *p0 = b + boff[0], *p1 = b + boff[1], *p2 = b + boff[2];
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (int64_t q = 0; q < nvec * 8; q += 8) {
        __m256 x0 = _mm256_loadu_ps(p0 + q), x1 = _mm256_loadu_ps(p1 + q);
        __m256 x2 = _mm256_loadu_ps(p2 + q);
        DOT_ROW(0);
        DOT_ROW(1);
        DOT_ROW(2);
        DOT_ROW(3);
    }
    _mm_storeu_ps(out, sum4(c00, c01, c02, c10));
    _mm_storeu_ps(out + 4, sum4(c11, c12, c20, c21));
    _mm_storeu_ps(out + 8, sum4(c22, c30, c31, c32));
}
