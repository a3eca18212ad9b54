/* philox_avx512.h: AVX-512F Philox4x32-10 on 16 blocks at once (one block per 32-bit lane) and
 * the Box-Muller transform, operation for operation as kernels/ref/philox_ref.h (fmaf = vfmadd),
 * so the noise has the same bits as the reference. One call gives the 64 Gaussian values of blocks
 * [block, block + 16), i.e. elements [4 block, 4 block + 64), in element order. AVX-512F only
 * (no DQ: float bit operations go through the integer unit). Static inline only. */
#ifndef DIFU_PHILOX_AVX512_H
#define DIFU_PHILOX_AVX512_H

#include <immintrin.h>

#include "ref/philox_ref.h"

#define DIFU_AVX512_GROUP 64 /* elements per call: 16 blocks of 4 */

static inline void difu_mulhilo_avx512(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(a, m);
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

/* Philox4x32-10 on counters {block + lane, stream, step lo, step hi}, lanes 0..15. */
static inline void difu_philox16_avx512(uint64_t seed, uint64_t step, uint32_t stream,
                                        uint32_t block, __m512i w[4])
{
    const __m512i m0 = _mm512_set1_epi32((int)DIFU_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)DIFU_PHILOX_M1);
    const __m512i w0 = _mm512_set1_epi32((int)DIFU_PHILOX_W0);
    const __m512i w1 = _mm512_set1_epi32((int)DIFU_PHILOX_W1);
    __m512i k0 = _mm512_set1_epi32((int)(uint32_t)seed);
    __m512i k1 = _mm512_set1_epi32((int)(uint32_t)(seed >> 32));
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32((int)block),
                                  _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                    13, 14, 15));
    __m512i c1 = _mm512_set1_epi32((int)stream);
    __m512i c2 = _mm512_set1_epi32((int)(uint32_t)step);
    __m512i c3 = _mm512_set1_epi32((int)(uint32_t)(step >> 32));
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 = _mm512_add_epi32(k0, w0);
            k1 = _mm512_add_epi32(k1, w1);
        }
        __m512i hi0, lo0, hi1, lo1;
        difu_mulhilo_avx512(c0, m0, &hi0, &lo0);
        difu_mulhilo_avx512(c2, m1, &hi1, &lo1);
        c0 = _mm512_ternarylogic_epi32(hi1, c1, k0, 0x96); /* a ^ b ^ c */
        c1 = lo1;
        c2 = _mm512_ternarylogic_epi32(hi0, c3, k1, 0x96);
        c3 = lo0;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

static inline __m512 difu_u01_avx512(__m512i x)
{
    __m512 k = _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 9));
    return _mm512_add_ps(_mm512_mul_ps(k, _mm512_set1_ps(0x1p-23f)), _mm512_set1_ps(0x1p-24f));
}

static inline __m512 difu_log_avx512(__m512 x)
{
    __m512i bits = _mm512_castps_si512(x);
    __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(126));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f000000)));
    __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(DIFU_LOG_SQRTHF), _CMP_LT_OQ);
    e = _mm512_mask_sub_epi32(e, small, e, _mm512_set1_epi32(1));
    __m512 t = _mm512_sub_ps(_mm512_mask_blend_ps(small, m, _mm512_add_ps(m, m)),
                             _mm512_set1_ps(1.0f));
    __m512 fe = _mm512_cvtepi32_ps(e);
    __m512 z = _mm512_mul_ps(t, t);
    __m512 p = _mm512_set1_ps(DIFU_LOG_P8);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P7));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P6));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P5));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(DIFU_LOG_P0));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, t), z);
    y = _mm512_fmadd_ps(fe, _mm512_set1_ps(DIFU_LOG_LN2_LO), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    __m512 r = _mm512_add_ps(t, y);
    return _mm512_fmadd_ps(fe, _mm512_set1_ps(DIFU_LOG_LN2_HI), r);
}

static inline void difu_sincos_2pi_avx512(__m512 u, __m512 *c_out, __m512 *s_out)
{
    __m512i q = _mm512_cvttps_epi32(
        _mm512_add_ps(_mm512_mul_ps(u, _mm512_set1_ps(4.0f)), _mm512_set1_ps(0.5f)));
    __m512 f = _mm512_sub_ps(u, _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.25f)));
    __m512 x = _mm512_mul_ps(f, _mm512_set1_ps(DIFU_TWO_PI));
    __m512 z = _mm512_mul_ps(x, x);
    __m512 sp = _mm512_fmadd_ps(_mm512_set1_ps(DIFU_SIN_S2), z, _mm512_set1_ps(DIFU_SIN_S1));
    sp = _mm512_fmadd_ps(sp, z, _mm512_set1_ps(DIFU_SIN_S0));
    __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(x, z), sp, x);
    __m512 cp = _mm512_fmadd_ps(_mm512_set1_ps(DIFU_COS_C2), z, _mm512_set1_ps(DIFU_COS_C1));
    cp = _mm512_fmadd_ps(cp, z, _mm512_set1_ps(DIFU_COS_C0));
    __m512 c = _mm512_fmadd_ps(_mm512_mul_ps(z, z), cp,
                               _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), _mm512_set1_ps(1.0f)));
    __m512i qi = _mm512_and_si512(q, _mm512_set1_epi32(3));
    __mmask16 swap = _mm512_test_epi32_mask(qi, _mm512_set1_epi32(1));
    __m512 cc = _mm512_mask_blend_ps(swap, c, s);
    __m512 ss = _mm512_mask_blend_ps(swap, s, c);
    __m512i csign = _mm512_slli_epi32(
        _mm512_and_si512(_mm512_add_epi32(qi, _mm512_set1_epi32(1)), _mm512_set1_epi32(2)), 30);
    __m512i ssign = _mm512_slli_epi32(_mm512_and_si512(qi, _mm512_set1_epi32(2)), 30);
    *c_out = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(cc), csign));
    *s_out = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(ss), ssign));
}

static inline void difu_box_muller_avx512(__m512i w_radius, __m512i w_angle, __m512 *z0,
                                          __m512 *z1)
{
    __m512 r = _mm512_sqrt_ps(
        _mm512_mul_ps(_mm512_set1_ps(-2.0f), difu_log_avx512(difu_u01_avx512(w_radius))));
    __m512 c, s;
    difu_sincos_2pi_avx512(difu_u01_avx512(w_angle), &c, &s);
    *z0 = _mm512_mul_ps(r, c);
    *z1 = _mm512_mul_ps(r, s);
}

/* From 4 vectors "lane l of blocks 0..15" to element order: out[k] holds blocks 4k .. 4k+3. */
static inline void difu_transpose4x16_avx512(const __m512 in[4], __m512 out[4])
{
    __m512 t0 = _mm512_unpacklo_ps(in[0], in[1]);
    __m512 t1 = _mm512_unpackhi_ps(in[0], in[1]);
    __m512 t2 = _mm512_unpacklo_ps(in[2], in[3]);
    __m512 t3 = _mm512_unpackhi_ps(in[2], in[3]);
    __m512 u0 = _mm512_shuffle_ps(t0, t2, 0x44); /* blocks 0, 4, 8, 12 */
    __m512 u1 = _mm512_shuffle_ps(t0, t2, 0xEE); /* blocks 1, 5, 9, 13 */
    __m512 u2 = _mm512_shuffle_ps(t1, t3, 0x44); /* blocks 2, 6, 10, 14 */
    __m512 u3 = _mm512_shuffle_ps(t1, t3, 0xEE); /* blocks 3, 7, 11, 15 */
    __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44); /* blocks 0, 4, 1, 5 */
    __m512 v1 = _mm512_shuffle_f32x4(u2, u3, 0x44); /* blocks 2, 6, 3, 7 */
    __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE); /* blocks 8, 12, 9, 13 */
    __m512 v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE); /* blocks 10, 14, 11, 15 */
    out[0] = _mm512_shuffle_f32x4(v0, v1, 0x88);
    out[1] = _mm512_shuffle_f32x4(v0, v1, 0xDD);
    out[2] = _mm512_shuffle_f32x4(v2, v3, 0x88);
    out[3] = _mm512_shuffle_f32x4(v2, v3, 0xDD);
}

/* Elements [4 block, 4 block + 64) of the noise, in order, as 4 vectors. */
static inline void difu_randn64_avx512(uint64_t seed, uint64_t step, uint32_t stream,
                                       uint32_t block, __m512 out[4])
{
    __m512i w[4];
    difu_philox16_avx512(seed, step, stream, block, w);
    __m512 z[4];
    difu_box_muller_avx512(w[0], w[1], &z[0], &z[1]);
    difu_box_muller_avx512(w[2], w[3], &z[2], &z[3]);
    difu_transpose4x16_avx512(z, out);
}

#endif /* DIFU_PHILOX_AVX512_H */
