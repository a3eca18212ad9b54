/* conv2d_pack_avx2.c: the im2col B packer of conv2d_pack_taps.h with AVX2 masked row copies
 * (vmaskmovps neither reads nor faults on masked-off lanes, so image edges need no scalar code). */
#include <immintrin.h>

#include "gemm_conv.h"

static inline void pack_row_avx2(float *o, const float *src, int lo, int hi, int len)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int q = 0; q < len; q += 8) {
        int n = len - q < 8 ? len - q : 8;
        int a = lo - q < 0 ? 0 : lo - q, b = hi - q > n ? n : hi - q;
        __m256 v;
        if (a == 0 && b == 8) {
            v = _mm256_loadu_ps(src + q);
        } else {
            __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(a - 1)),
                                         _mm256_cmpgt_epi32(_mm256_set1_epi32(b), lane));
            v = _mm256_maskload_ps(src + q, m);
        }
        if (n == 8)
            _mm256_storeu_ps(o + q, v);
        else
            _mm256_maskstore_ps(o + q, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane), v);
    }
}

#define PACK_ROW(o, src, lo, hi, len) pack_row_avx2((o), (src), (lo), (hi), (len))
#define PACK_B_TAPS difu_pack_b_taps_avx2
#include "conv2d_pack_taps.h"
