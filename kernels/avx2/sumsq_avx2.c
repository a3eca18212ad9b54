/* sumsq_avx2.c: sum of squares of x[0..n) in double: 16 floats per step into 4 accumulators of
 * 4 doubles, combined in a fixed order (deterministic; reassociated against sumsq_ref). */
#include "update_avx2.h"

#include <immintrin.h>

double sumsq_avx2(int64_t n, const float *x)
{
    __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                      _mm256_setzero_pd()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 4; k++) {
            __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * k));
            acc[k] = _mm256_fmadd_pd(d, d, acc[k]);
        }
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
    double lanes[4];
    _mm256_storeu_pd(lanes, s);
    double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++)
        total += (double)x[i] * (double)x[i];
    return total;
}
