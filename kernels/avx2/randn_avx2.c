/* randn_avx2.c: Gaussian noise, 32 elements (8 Philox blocks) per step; dst[i] = element
 * offset + i of the stream (philox_ref.h). Groups that do not start on a block boundary or run
 * past the end go through a 32-float buffer, so every element has the reference's bits. */
#include "philox_avx2.h"
#include "update_avx2.h"

void randn_avx2(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                float *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m256 z[4];
        difu_randn32_avx2(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        if (base == j && end - j >= DIFU_AVX2_GROUP) {
            for (int g = 0; g < 4; g++)
                _mm256_storeu_ps(dst + (j - offset) + 8 * g, z[g]);
            j += DIFU_AVX2_GROUP;
            continue;
        }
        float buf[DIFU_AVX2_GROUP];
        for (int g = 0; g < 4; g++)
            _mm256_storeu_ps(buf + 8 * g, z[g]);
        int64_t stop = base + DIFU_AVX2_GROUP < end ? base + DIFU_AVX2_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}

void randn_bits_avx2(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                     uint32_t *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m256i w[4];
        difu_philox8_avx2(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), w);
        __m256 in[4], out[4];
        for (int g = 0; g < 4; g++)
            in[g] = _mm256_castsi256_ps(w[g]);
        difu_transpose4x8_avx2(in, out);
        uint32_t buf[DIFU_AVX2_GROUP];
        for (int g = 0; g < 4; g++)
            _mm256_storeu_ps((float *)(void *)(buf + 8 * g), out[g]);
        int64_t stop = base + DIFU_AVX2_GROUP < end ? base + DIFU_AVX2_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}
