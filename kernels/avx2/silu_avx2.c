/* silu_avx2.c: SiLU forward and backward with AVX2+FMA.
 * Range kernels over n elements: y = x / (1 + exp(-x)); dx = dy * s * (1 + x * (1 - s)),
 * s = sigmoid(x). The tail goes through masked loads/stores and the same vector code, so each
 * element's result does not depend on where the range is cut. In-place is allowed. */
#include "norm_avx2.h"
#include "vmath_avx2.h"

void silu_fwd_avx2(int64_t n, const float *x, float *y)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = difu_silu_avx2(_mm256_loadu_ps(x + i));
        __m256 b = difu_silu_avx2(_mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (; i < n; i += 8) {
        __m256i m = difu_tail_mask_avx2(n - i < 8 ? (int)(n - i) : 8);
        _mm256_maskstore_ps(y + i, m, difu_silu_avx2(_mm256_maskload_ps(x + i, m)));
    }
}

void silu_bwd_avx2(int64_t n, const float *x, const float *dy, float *dx)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i),
                                               difu_dsilu_avx2(_mm256_loadu_ps(x + i))));
    if (i < n) {
        __m256i m = difu_tail_mask_avx2((int)(n - i));
        __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + i, m),
                                 difu_dsilu_avx2(_mm256_maskload_ps(x + i, m)));
        _mm256_maskstore_ps(dx + i, m, g);
    }
}
