/* vmath_avx512.h: static inline AVX-512F helpers of the norm family: exp, sigmoid, SiLU and its
 * derivative, tail masks. Only for files built with -mavx512f.
 *
 * exp: Cephes-style expf. n = round(x / ln2), r = x - n ln2 (ln2 in two parts), degree-6
 * polynomial for e^r, then vscalefps multiplies by 2^n, which also gives denormals, 0 and inf
 * where expf does. Inputs are clamped to [-104, 89] (outside, expf is 0 or inf anyway). At most
 * 1 ulp from the correctly rounded result (measured on every 128th float of the range); NaN
 * gives NaN. */
#ifndef DIFU_VMATH_AVX512_H
#define DIFU_VMATH_AVX512_H

#include <immintrin.h>

static inline __m512 difu_exp_avx512(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* 1 / (1 + exp(-x)) */
static inline __m512 difu_sigmoid_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(
        one, _mm512_add_ps(one, difu_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* x / (1 + exp(-x)) */
static inline __m512 difu_silu_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(
        x, _mm512_add_ps(one, difu_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* d silu / dx = s * (1 + x * (1 - s)), s = sigmoid(x) */
static inline __m512 difu_dsilu_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 s = difu_sigmoid_avx512(x);
    return _mm512_mul_ps(s, _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
}

/* Lanes [0, rem) set, rem in [0, 16]. */
static inline __mmask16 difu_tail_mask_avx512(int rem)
{
    return (__mmask16)((1u << rem) - 1u);
}

#endif /* DIFU_VMATH_AVX512_H */
