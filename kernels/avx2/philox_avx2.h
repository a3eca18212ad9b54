/* philox_avx2.h: AVX2 Philox4x32-10 on 8 blocks at once (one block per 32-bit lane) and the
 * Box-Muller transform, operation for operation as kernels/ref/philox_ref.h (fmaf = vfmadd), so
 * the noise has the same bits as the reference. One call gives the 32 Gaussian values of blocks
 * [block, block + 8), i.e. elements [4 block, 4 block + 32), in element order. Static inline only. */
#ifndef DIFU_PHILOX_AVX2_H
#define DIFU_PHILOX_AVX2_H

#include <immintrin.h>

#include "ref/philox_ref.h"

#define DIFU_AVX2_GROUP 32 /* elements per call: 8 blocks of 4 */

/* 32x32 -> 64-bit products of every lane with m: even lanes directly, odd lanes shifted down. */
static inline void difu_mulhilo_avx2(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i pe = _mm256_mul_epu32(a, m);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* Philox4x32-10 on counters {block + lane, stream, step lo, step hi}, lanes 0..7. w[i] = word i. */
static inline void difu_philox8_avx2(uint64_t seed, uint64_t step, uint32_t stream,
                                     uint32_t block, __m256i w[4])
{
    const __m256i m0 = _mm256_set1_epi32((int)DIFU_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)DIFU_PHILOX_M1);
    const __m256i w0 = _mm256_set1_epi32((int)DIFU_PHILOX_W0);
    const __m256i w1 = _mm256_set1_epi32((int)DIFU_PHILOX_W1);
    __m256i k0 = _mm256_set1_epi32((int)(uint32_t)seed);
    __m256i k1 = _mm256_set1_epi32((int)(uint32_t)(seed >> 32));
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)block),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i c1 = _mm256_set1_epi32((int)stream);
    __m256i c2 = _mm256_set1_epi32((int)(uint32_t)step);
    __m256i c3 = _mm256_set1_epi32((int)(uint32_t)(step >> 32));
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 = _mm256_add_epi32(k0, w0);
            k1 = _mm256_add_epi32(k1, w1);
        }
        __m256i hi0, lo0, hi1, lo1;
        difu_mulhilo_avx2(c0, m0, &hi0, &lo0);
        difu_mulhilo_avx2(c2, m1, &hi1, &lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0);
        c1 = lo1;
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1);
        c3 = lo0;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

static inline __m256 difu_u01_avx2(__m256i x)
{
    __m256 k = _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 9));
    return _mm256_add_ps(_mm256_mul_ps(k, _mm256_set1_ps(0x1p-23f)), _mm256_set1_ps(0x1p-24f));
}

static inline __m256 difu_log_avx2(__m256 x)
{
    __m256i bits = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
    __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(DIFU_LOG_SQRTHF), _CMP_LT_OQ);
    e = _mm256_add_epi32(e, _mm256_castps_si256(small)); /* -1 where m < sqrt(1/2) */
    __m256 t = _mm256_sub_ps(_mm256_blendv_ps(m, _mm256_add_ps(m, m), small), _mm256_set1_ps(1.0f));
    __m256 fe = _mm256_cvtepi32_ps(e);
    __m256 z = _mm256_mul_ps(t, t);
    __m256 p = _mm256_set1_ps(DIFU_LOG_P8);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P7));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P6));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P5));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P1));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(DIFU_LOG_P0));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, t), z);
    y = _mm256_fmadd_ps(fe, _mm256_set1_ps(DIFU_LOG_LN2_LO), y);
    y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
    __m256 r = _mm256_add_ps(t, y);
    return _mm256_fmadd_ps(fe, _mm256_set1_ps(DIFU_LOG_LN2_HI), r);
}

static inline void difu_sincos_2pi_avx2(__m256 u, __m256 *c_out, __m256 *s_out)
{
    __m256i q = _mm256_cvttps_epi32(
        _mm256_add_ps(_mm256_mul_ps(u, _mm256_set1_ps(4.0f)), _mm256_set1_ps(0.5f)));
    __m256 f = _mm256_sub_ps(u, _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(0.25f)));
    __m256 x = _mm256_mul_ps(f, _mm256_set1_ps(DIFU_TWO_PI));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 sp = _mm256_fmadd_ps(_mm256_set1_ps(DIFU_SIN_S2), z, _mm256_set1_ps(DIFU_SIN_S1));
    sp = _mm256_fmadd_ps(sp, z, _mm256_set1_ps(DIFU_SIN_S0));
    __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(x, z), sp, x);
    __m256 cp = _mm256_fmadd_ps(_mm256_set1_ps(DIFU_COS_C2), z, _mm256_set1_ps(DIFU_COS_C1));
    cp = _mm256_fmadd_ps(cp, z, _mm256_set1_ps(DIFU_COS_C0));
    __m256 c = _mm256_fmadd_ps(_mm256_mul_ps(z, z), cp,
                               _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), _mm256_set1_ps(1.0f)));
    __m256i qi = _mm256_and_si256(q, _mm256_set1_epi32(3));
    __m256 swap = _mm256_castsi256_ps(
        _mm256_cmpeq_epi32(_mm256_and_si256(qi, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
    __m256 cc = _mm256_blendv_ps(c, s, swap);
    __m256 ss = _mm256_blendv_ps(s, c, swap);
    __m256i csign = _mm256_slli_epi32(
        _mm256_and_si256(_mm256_add_epi32(qi, _mm256_set1_epi32(1)), _mm256_set1_epi32(2)), 30);
    __m256i ssign = _mm256_slli_epi32(_mm256_and_si256(qi, _mm256_set1_epi32(2)), 30);
    *c_out = _mm256_xor_ps(cc, _mm256_castsi256_ps(csign));
    *s_out = _mm256_xor_ps(ss, _mm256_castsi256_ps(ssign));
}

static inline void difu_box_muller_avx2(__m256i w_radius, __m256i w_angle, __m256 *z0, __m256 *z1)
{
    __m256 r = _mm256_sqrt_ps(
        _mm256_mul_ps(_mm256_set1_ps(-2.0f), difu_log_avx2(difu_u01_avx2(w_radius))));
    __m256 c, s;
    difu_sincos_2pi_avx2(difu_u01_avx2(w_angle), &c, &s);
    *z0 = _mm256_mul_ps(r, c);
    *z1 = _mm256_mul_ps(r, s);
}

/* From 4 vectors "lane l of blocks 0..7" to element order: out[k] holds blocks 2k, 2k+1. */
static inline void difu_transpose4x8_avx2(const __m256 in[4], __m256 out[4])
{
    __m256 t0 = _mm256_unpacklo_ps(in[0], in[1]); /* blocks 0,1 | 4,5, lanes 0-1 */
    __m256 t1 = _mm256_unpackhi_ps(in[0], in[1]); /* blocks 2,3 | 6,7 */
    __m256 t2 = _mm256_unpacklo_ps(in[2], in[3]);
    __m256 t3 = _mm256_unpackhi_ps(in[2], in[3]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44); /* block 0 | 4 */
    __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xEE); /* block 1 | 5 */
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44); /* block 2 | 6 */
    __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xEE); /* block 3 | 7 */
    out[0] = _mm256_permute2f128_ps(u0, u1, 0x20);
    out[1] = _mm256_permute2f128_ps(u2, u3, 0x20);
    out[2] = _mm256_permute2f128_ps(u0, u1, 0x31);
    out[3] = _mm256_permute2f128_ps(u2, u3, 0x31);
}

/* Elements [4 block, 4 block + 32) of the noise, in order, as 4 vectors. */
static inline void difu_randn32_avx2(uint64_t seed, uint64_t step, uint32_t stream, uint32_t block,
                                     __m256 out[4])
{
    __m256i w[4];
    difu_philox8_avx2(seed, step, stream, block, w);
    __m256 z[4];
    difu_box_muller_avx2(w[0], w[1], &z[0], &z[1]);
    difu_box_muller_avx2(w[2], w[3], &z[2], &z[3]);
    difu_transpose4x8_avx2(z, out);
}

#endif /* DIFU_PHILOX_AVX2_H */
