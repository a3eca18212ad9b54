/* philox_neon.h: NEON Philox4x32-10 on 4 blocks at once (one block per 32-bit lane, products
 * from vmull_u32) and the Box-Muller transform, operation for operation as
 * kernels/ref/philox_ref.h (fmaf(a, b, c) = vfmaq_f32(c, a, b)), so the noise has the same bits as
 * the reference. One call gives the 16 Gaussian values of blocks [block, block + 4), i.e. elements
 * [4 block, 4 block + 16), in element order. Static inline only. */
#ifndef DIFU_PHILOX_NEON_H
#define DIFU_PHILOX_NEON_H

#include <arm_neon.h>

#include "ref/philox_ref.h"

#define DIFU_NEON_GROUP 16 /* elements per call: 4 blocks of 4 */

static inline void difu_mulhilo_neon(uint32x4_t a, uint32_t m, uint32x4_t *hi, uint32x4_t *lo)
{
    uint32x2_t mm = vdup_n_u32(m);
    uint32x4_t p01 = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(a), mm));  /* lo0 hi0 lo1 hi1 */
    uint32x4_t p23 = vreinterpretq_u32_u64(vmull_u32(vget_high_u32(a), mm)); /* lo2 hi2 lo3 hi3 */
    *lo = vuzp1q_u32(p01, p23);
    *hi = vuzp2q_u32(p01, p23);
}

/* Philox4x32-10 on counters {block + lane, stream, step lo, step hi}, lanes 0..3. */
static inline void difu_philox4_neon(uint64_t seed, uint64_t step, uint32_t stream, uint32_t block,
                                     uint32x4_t w[4])
{
    static const uint32_t lane[4] = {0, 1, 2, 3};
    uint32x4_t k0 = vdupq_n_u32((uint32_t)seed);
    uint32x4_t k1 = vdupq_n_u32((uint32_t)(seed >> 32));
    uint32x4_t c0 = vaddq_u32(vdupq_n_u32(block), vld1q_u32(lane));
    uint32x4_t c1 = vdupq_n_u32(stream);
    uint32x4_t c2 = vdupq_n_u32((uint32_t)step);
    uint32x4_t c3 = vdupq_n_u32((uint32_t)(step >> 32));
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 = vaddq_u32(k0, vdupq_n_u32(DIFU_PHILOX_W0));
            k1 = vaddq_u32(k1, vdupq_n_u32(DIFU_PHILOX_W1));
        }
        uint32x4_t hi0, lo0, hi1, lo1;
        difu_mulhilo_neon(c0, DIFU_PHILOX_M0, &hi0, &lo0);
        difu_mulhilo_neon(c2, DIFU_PHILOX_M1, &hi1, &lo1);
        c0 = veorq_u32(veorq_u32(hi1, c1), k0);
        c1 = lo1;
        c2 = veorq_u32(veorq_u32(hi0, c3), k1);
        c3 = lo0;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

static inline float32x4_t difu_u01_neon(uint32x4_t x)
{
    float32x4_t k = vcvtq_f32_u32(vshrq_n_u32(x, 9));
    return vaddq_f32(vmulq_n_f32(k, 0x1p-23f), vdupq_n_f32(0x1p-24f));
}

static inline float32x4_t difu_log_neon(float32x4_t x)
{
    uint32x4_t bits = vreinterpretq_u32_f32(x);
    int32x4_t e = vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(bits, 23)), vdupq_n_s32(126));
    float32x4_t m = vreinterpretq_f32_u32(
        vorrq_u32(vandq_u32(bits, vdupq_n_u32(0x007fffff)), vdupq_n_u32(0x3f000000)));
    uint32x4_t small = vcltq_f32(m, vdupq_n_f32(DIFU_LOG_SQRTHF));
    e = vaddq_s32(e, vreinterpretq_s32_u32(small)); /* -1 where m < sqrt(1/2) */
    float32x4_t t = vsubq_f32(vbslq_f32(small, vaddq_f32(m, m), m), vdupq_n_f32(1.0f));
    float32x4_t fe = vcvtq_f32_s32(e);
    float32x4_t z = vmulq_f32(t, t);
    float32x4_t p = vdupq_n_f32(DIFU_LOG_P8);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P7), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P6), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P5), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P4), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P3), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P2), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P1), p, t);
    p = vfmaq_f32(vdupq_n_f32(DIFU_LOG_P0), p, t);
    float32x4_t y = vmulq_f32(vmulq_f32(p, t), z);
    y = vfmaq_f32(y, fe, vdupq_n_f32(DIFU_LOG_LN2_LO));
    y = vfmaq_f32(y, z, vdupq_n_f32(-0.5f));
    float32x4_t r = vaddq_f32(t, y);
    return vfmaq_f32(r, fe, vdupq_n_f32(DIFU_LOG_LN2_HI));
}

static inline void difu_sincos_2pi_neon(float32x4_t u, float32x4_t *c_out, float32x4_t *s_out)
{
    int32x4_t q = vcvtq_s32_f32(vaddq_f32(vmulq_n_f32(u, 4.0f), vdupq_n_f32(0.5f))); /* trunc */
    float32x4_t f = vsubq_f32(u, vmulq_n_f32(vcvtq_f32_s32(q), 0.25f));
    float32x4_t x = vmulq_n_f32(f, DIFU_TWO_PI);
    float32x4_t z = vmulq_f32(x, x);
    float32x4_t sp = vfmaq_f32(vdupq_n_f32(DIFU_SIN_S1), vdupq_n_f32(DIFU_SIN_S2), z);
    sp = vfmaq_f32(vdupq_n_f32(DIFU_SIN_S0), sp, z);
    float32x4_t s = vfmaq_f32(x, vmulq_f32(x, z), sp);
    float32x4_t cp = vfmaq_f32(vdupq_n_f32(DIFU_COS_C1), vdupq_n_f32(DIFU_COS_C2), z);
    cp = vfmaq_f32(vdupq_n_f32(DIFU_COS_C0), cp, z);
    float32x4_t c = vfmaq_f32(vfmaq_f32(vdupq_n_f32(1.0f), z, vdupq_n_f32(-0.5f)),
                              vmulq_f32(z, z), cp);
    uint32x4_t qi = vandq_u32(vreinterpretq_u32_s32(q), vdupq_n_u32(3));
    uint32x4_t swap = vtstq_u32(qi, vdupq_n_u32(1));
    float32x4_t cc = vbslq_f32(swap, s, c);
    float32x4_t ss = vbslq_f32(swap, c, s);
    uint32x4_t csign = vshlq_n_u32(vandq_u32(vaddq_u32(qi, vdupq_n_u32(1)), vdupq_n_u32(2)), 30);
    uint32x4_t ssign = vshlq_n_u32(vandq_u32(qi, vdupq_n_u32(2)), 30);
    *c_out = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(cc), csign));
    *s_out = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(ss), ssign));
}

static inline void difu_box_muller_neon(uint32x4_t w_radius, uint32x4_t w_angle, float32x4_t *z0,
                                        float32x4_t *z1)
{
    float32x4_t r = vsqrtq_f32(vmulq_n_f32(difu_log_neon(difu_u01_neon(w_radius)), -2.0f));
    float32x4_t c, s;
    difu_sincos_2pi_neon(difu_u01_neon(w_angle), &c, &s);
    *z0 = vmulq_f32(r, c);
    *z1 = vmulq_f32(r, s);
}

/* From "lane l of blocks 0..3" to element order: out[k] holds block k. */
static inline void difu_transpose4x4_neon(const float32x4_t in[4], float32x4_t out[4])
{
    float32x4x2_t t01 = vtrnq_f32(in[0], in[1]); /* blocks 0,2 | 1,3 of lanes 0-1 */
    float32x4x2_t t23 = vtrnq_f32(in[2], in[3]);
    out[0] = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
    out[1] = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
    out[2] = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
    out[3] = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

/* Elements [4 block, 4 block + 16) of the noise, in order, as 4 vectors. */
static inline void difu_randn16_neon(uint64_t seed, uint64_t step, uint32_t stream, uint32_t block,
                                     float32x4_t out[4])
{
    uint32x4_t w[4];
    difu_philox4_neon(seed, step, stream, block, w);
    float32x4_t z[4];
    difu_box_muller_neon(w[0], w[1], &z[0], &z[1]);
    difu_box_muller_neon(w[2], w[3], &z[2], &z[3]);
    difu_transpose4x4_neon(z, out);
}

#endif /* DIFU_PHILOX_NEON_H */
