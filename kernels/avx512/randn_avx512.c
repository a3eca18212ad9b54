/* randn_avx512.c: Gaussian noise, 64 elements (16 Philox blocks) per step; dst[i] = element
 * offset + i of the stream (philox_ref.h). Groups that do not start on a block boundary or run
 * past the end go through a 64-float buffer, so every element has the reference's bits. */
#include "philox_avx512.h"
#include "update_avx512.h"

void randn_avx512(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                  float *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m512 z[4];
        difu_randn64_avx512(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        if (base == j && end - j >= DIFU_AVX512_GROUP) {
            for (int g = 0; g < 4; g++)
                _mm512_storeu_ps(dst + (j - offset) + 16 * g, z[g]);
            j += DIFU_AVX512_GROUP;
            continue;
        }
        float buf[DIFU_AVX512_GROUP];
        for (int g = 0; g < 4; g++)
            _mm512_storeu_ps(buf + 16 * g, z[g]);
        int64_t stop = base + DIFU_AVX512_GROUP < end ? base + DIFU_AVX512_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}

void randn_bits_avx512(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                       uint32_t *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m512i w[4];
        difu_philox16_avx512(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), w);
        __m512 in[4], out[4];
        for (int g = 0; g < 4; g++)
            in[g] = _mm512_castsi512_ps(w[g]);
        difu_transpose4x16_avx512(in, out);
        uint32_t buf[DIFU_AVX512_GROUP];
        for (int g = 0; g < 4; g++)
            _mm512_storeu_ps((float *)(void *)(buf + 16 * g), out[g]);
        int64_t stop = base + DIFU_AVX512_GROUP < end ? base + DIFU_AVX512_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}
