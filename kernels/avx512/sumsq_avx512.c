/* sumsq_avx512.c: sum of squares of x[0..n) in double: 32 floats per step into 4 accumulators of
 * 8 doubles, combined in a fixed order (deterministic; reassociated against sumsq_ref). */
#include "update_avx512.h"

#include <immintrin.h>

double sumsq_avx512(int64_t n, const float *x)
{
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                      _mm512_setzero_pd()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; k++) {
            __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8 * k));
            acc[k] = _mm512_fmadd_pd(d, d, acc[k]);
        }
    }
    __m512d s = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
    double lanes[8];
    _mm512_storeu_pd(lanes, s);
    double total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                   ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; i < n; i++)
        total += (double)x[i] * (double)x[i];
    return total;
}
