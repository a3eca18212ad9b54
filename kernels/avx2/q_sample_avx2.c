/* q_sample_avx2.c: forward noising of one image's elements [offset, offset + n), 32 at a time:
 * eps = randn (drawn in registers), xt = fma(a, x0, b * eps), as difu_q_sample_elem. Partial
 * groups go through a buffer and the scalar formula (same bits). */
#include "philox_avx2.h"
#include "ref/update_ref.h"
#include "update_avx2.h"

void q_sample_avx2(int64_t n, const float *x0, float a, float b, uint64_t seed, uint64_t step,
                   uint64_t stream, int64_t offset, float *eps, float *xt)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m256 z[4];
        difu_randn32_avx2(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        int64_t i = j - offset;
        if (base == j && end - j >= DIFU_AVX2_GROUP) {
            for (int g = 0; g < 4; g++) {
                __m256 x = _mm256_loadu_ps(x0 + i + 8 * g);
                _mm256_storeu_ps(eps + i + 8 * g, z[g]);
                _mm256_storeu_ps(xt + i + 8 * g, _mm256_fmadd_ps(va, x, _mm256_mul_ps(vb, z[g])));
            }
            j += DIFU_AVX2_GROUP;
            continue;
        }
        float buf[DIFU_AVX2_GROUP];
        for (int g = 0; g < 4; g++)
            _mm256_storeu_ps(buf + 8 * g, z[g]);
        int64_t stop = base + DIFU_AVX2_GROUP < end ? base + DIFU_AVX2_GROUP : end;
        for (; j < stop; j++) {
            float e = buf[j - base];
            eps[j - offset] = e;
            xt[j - offset] = difu_q_sample_elem(a, b, x0[j - offset], e);
        }
    }
}
