/* silu_avx512.c: SiLU forward and backward with AVX-512F.
 * Range kernels over n elements: y = x / (1 + exp(-x)); dx = dy * s * (1 + x * (1 - s)),
 * s = sigmoid(x). The tail goes through masked loads/stores and the same vector code, so each
 * element's result does not depend on where the range is cut. In-place is allowed. */
#include "norm_avx512.h"
#include "vmath_avx512.h"

void silu_fwd_avx512(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = difu_silu_avx512(_mm512_loadu_ps(x + i));
        __m512 b = difu_silu_avx512(_mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(y + i, a);
        _mm512_storeu_ps(y + i + 16, b);
    }
    for (; i < n; i += 16) {
        __mmask16 m = difu_tail_mask_avx512(n - i < 16 ? (int)(n - i) : 16);
        _mm512_mask_storeu_ps(y + i, m, difu_silu_avx512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void silu_bwd_avx512(int64_t n, const float *x, const float *dy, float *dx)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i),
                                               difu_dsilu_avx512(_mm512_loadu_ps(x + i))));
    if (i < n) {
        __mmask16 m = difu_tail_mask_avx512((int)(n - i));
        __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i),
                                 difu_dsilu_avx512(_mm512_maskz_loadu_ps(m, x + i)));
        _mm512_mask_storeu_ps(dx + i, m, g);
    }
}
