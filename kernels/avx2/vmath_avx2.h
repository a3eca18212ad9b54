/* vmath_avx2.h: static inline AVX2+FMA helpers of the norm family: exp, sigmoid, SiLU and its
 * derivative, horizontal sum/max and tail masks. Only for files built with -mavx2 -mfma.
 *
 * exp: Cephes-style expf. n = round(x / ln2), r = x - n ln2 (ln2 in two parts), degree-6
 * polynomial for e^r, times 2^n applied as 2^(n>>1) * 2^(n-(n>>1)) so that denormals, 0 and inf
 * come out where expf gives them. Inputs are clamped to [-104, 89] (outside, expf is 0 or inf
 * anyway). At most 1 ulp from the correctly rounded result (measured on every 128th float of
 * the range); NaN gives NaN. */
#ifndef DIFU_VMATH_AVX2_H
#define DIFU_VMATH_AVX2_H

#include <immintrin.h>

static inline __m256 difu_exp_avx2(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i bias = _mm256_set1_epi32(127);
    __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    __m256 s2 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* 1 / (1 + exp(-x)) */
static inline __m256 difu_sigmoid_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one,
                         _mm256_add_ps(one, difu_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* x / (1 + exp(-x)) */
static inline __m256 difu_silu_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(x,
                         _mm256_add_ps(one, difu_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* d silu / dx = s * (1 + x * (1 - s)), s = sigmoid(x) */
static inline __m256 difu_dsilu_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 s = difu_sigmoid_avx2(x);
    return _mm256_mul_ps(s, _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one));
}

static inline float difu_hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float difu_hmax_avx2(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lanes [0, rem) set, rem in [0, 8]: for _mm256_maskload_ps / _mm256_maskstore_ps. */
static inline __m256i difu_tail_mask_avx2(int rem)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif /* DIFU_VMATH_AVX2_H */
