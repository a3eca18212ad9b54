/* randn_ref.c: reference Gaussian noise, one Philox block at a time (see philox_ref.h).
 * dst[i] = element offset + i of stream `stream` under (seed, step); n >= 0, any offset >= 0. */
#include "update_ref.h"

void randn_ref(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
               float *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        float blk[4];
        difu_randn_block(seed, step, (uint32_t)stream, (uint32_t)(j >> 2), blk);
        int64_t stop = (j | 3) + 1 < end ? (j | 3) + 1 : end;
        for (; j < stop; j++)
            dst[j - offset] = blk[j & 3];
    }
}

void randn_bits_ref(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                    uint32_t *dst)
{
    int64_t j = offset, end = offset + n;
    while (j < end) {
        uint32_t w[4];
        difu_philox_block(seed, step, (uint32_t)stream, (uint32_t)(j >> 2), w);
        int64_t stop = (j | 3) + 1 < end ? (j | 3) + 1 : end;
        for (; j < stop; j++)
            dst[j - offset] = w[j & 3];
    }
}
