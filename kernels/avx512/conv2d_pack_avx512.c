/* conv2d_pack_avx512.c: the im2col B packer of conv2d_pack_taps.h with AVX-512 masked row copies
 * (masked-off lanes are neither read nor written, so image edges need no scalar code). */
#include <immintrin.h>

#include "gemm_conv.h"

static inline void pack_row_avx512(float *o, const float *src, int lo, int hi, int len)
{
    for (int q = 0; q < len; q += 16) {
        int n = len - q < 16 ? len - q : 16;
        int a = lo - q < 0 ? 0 : lo - q, b = hi - q > n ? n : hi - q;
        unsigned m = b > a ? ((1u << b) - 1u) & ~((1u << a) - 1u) : 0u;
        __m512 v = _mm512_maskz_loadu_ps((__mmask16)m, src + q);
        if (n == 16)
            _mm512_storeu_ps(o + q, v);
        else
            _mm512_mask_storeu_ps(o + q, (__mmask16)((1u << n) - 1u), v);
    }
}

#define PACK_ROW(o, src, lo, hi, len) pack_row_avx512((o), (src), (lo), (hi), (len))
#define PACK_B_TAPS difu_pack_b_taps_avx512
#include "conv2d_pack_taps.h"
