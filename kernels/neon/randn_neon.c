/* randn_neon.c: Gaussian noise, 16 elements (4 Philox blocks) per step; dst[i] = element
 * offset + i of the stream (philox_ref.h). Groups that do not start on a block boundary or run
 * past the end go through a 16-float buffer, so every element has the reference's bits. */
#include "philox_neon.h"
#include "update_neon.h"

void randn_neon(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                float *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        float32x4_t z[4];
        difu_randn16_neon(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        if (base == j && end - j >= DIFU_NEON_GROUP) {
            for (int g = 0; g < 4; g++)
                vst1q_f32(dst + (j - offset) + 4 * g, z[g]);
            j += DIFU_NEON_GROUP;
            continue;
        }
        float buf[DIFU_NEON_GROUP];
        for (int g = 0; g < 4; g++)
            vst1q_f32(buf + 4 * g, z[g]);
        int64_t stop = base + DIFU_NEON_GROUP < end ? base + DIFU_NEON_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}

void randn_bits_neon(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                     uint32_t *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        uint32x4_t w[4];
        difu_philox4_neon(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), w);
        uint32_t buf[DIFU_NEON_GROUP];
        uint32x4x4_t v = {{w[0], w[1], w[2], w[3]}};
        vst4q_u32(buf, v); /* interleaves lanes: buf[4 b + l] = word l of block b */
        int64_t stop = base + DIFU_NEON_GROUP < end ? base + DIFU_NEON_GROUP : end;
        for (; j < stop; j++)
            dst[j - offset] = buf[j - base];
    }
}
