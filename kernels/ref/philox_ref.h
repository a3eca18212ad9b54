/* philox_ref.h: the scalar definition of difu's Gaussian noise: Philox4x32-10, the uniform map,
 * and the log / sin / cos approximations of Box-Muller. The SIMD kernels (philox_avx2.h,
 * philox_avx512.h, philox_neon.h) repeat exactly these operations in the same order, with a fused
 * multiply-add wherever this file calls fmaf, so every ISA gives the same bits.
 *
 * Element j of stream s under key (seed, step): block b = j / 4, lane j % 4 of
 *   philox4x32_10(counter {b, s, step lo, step hi}, key {seed lo, seed hi}).
 * Lanes (0, 1) and (2, 3) are Box-Muller pairs: u1 = u01(word 0), u2 = u01(word 1),
 *   out[0] = sqrt(-2 log u1) cos(2 pi u2), out[1] = sqrt(-2 log u1) sin(2 pi u2).
 * u01 keeps the top 23 bits of a word and centres them: (k + 0.5) / 2^23, never 0 nor 1, so the
 * largest magnitude is sqrt(2 * 24 ln 2) = 5.77.
 * Static inline only (no external linkage), so ISA-flagged units may include it. */
#ifndef DIFU_PHILOX_REF_H
#define DIFU_PHILOX_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DIFU_PHILOX_M0 0xD2511F53u
#define DIFU_PHILOX_M1 0xCD9E8D57u
#define DIFU_PHILOX_W0 0x9E3779B9u
#define DIFU_PHILOX_W1 0xBB67AE85u

/* log(1 + t) = t - t^2/2 + t^3 P(t) (Cephes logf), t = m - 1, m in [sqrt(1/2), sqrt(2)). */
#define DIFU_LOG_P8 7.0376836292E-2f
#define DIFU_LOG_P7 -1.1514610310E-1f
#define DIFU_LOG_P6 1.1676998740E-1f
#define DIFU_LOG_P5 -1.2420140846E-1f
#define DIFU_LOG_P4 1.4249322787E-1f
#define DIFU_LOG_P3 -1.6668057665E-1f
#define DIFU_LOG_P2 2.0000714765E-1f
#define DIFU_LOG_P1 -2.4999993993E-1f
#define DIFU_LOG_P0 3.3333331174E-1f
#define DIFU_LOG_LN2_LO -2.12194440E-4f
#define DIFU_LOG_LN2_HI 0.693359375f
#define DIFU_LOG_SQRTHF 0.707106781186547524f

/* sin and cos on [-pi/4, pi/4] (Cephes sinf / cosf). */
#define DIFU_SIN_S2 -1.9515295891E-4f
#define DIFU_SIN_S1 8.3321608736E-3f
#define DIFU_SIN_S0 -1.6666654611E-1f
#define DIFU_COS_C2 2.443315711809948E-5f
#define DIFU_COS_C1 -1.388731625493765E-3f
#define DIFU_COS_C0 4.166664568298827E-2f
#define DIFU_TWO_PI 6.28318530717958647692f

/* Philox4x32-10 (Salmon et al. 2011, Random123). */
static inline void difu_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += DIFU_PHILOX_W0;
            k1 += DIFU_PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)DIFU_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)DIFU_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The 4 words of block b of stream `stream` under (seed, step). */
static inline void difu_philox_block(uint64_t seed, uint64_t step, uint32_t stream, uint32_t block,
                                     uint32_t out[4])
{
    const uint32_t ctr[4] = {block, stream, (uint32_t)step, (uint32_t)(step >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    difu_philox4x32_10(ctr, key, out);
}

/* (k + 0.5) / 2^23 with k the top 23 bits: every operation is exact. */
static inline float difu_u01(uint32_t x)
{
    return (float)(x >> 9) * 0x1p-23f + 0x1p-24f;
}

static inline uint32_t difu_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float difu_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* log(x) for normal x > 0 (here x in [2^-24, 1)). */
static inline float difu_log_approx(float x)
{
    uint32_t bits = difu_f2u(x);
    int32_t e = (int32_t)(bits >> 23) - 126;            /* x = m 2^e, m in [0.5, 1) */
    float m = difu_u2f((bits & 0x007fffffu) | 0x3f000000u);
    float t;
    if (m < DIFU_LOG_SQRTHF) {
        e -= 1;
        t = (m + m) - 1.0f;
    } else {
        t = m - 1.0f;
    }
    float fe = (float)e;
    float z = t * t;
    float p = DIFU_LOG_P8;
    p = fmaf(p, t, DIFU_LOG_P7);
    p = fmaf(p, t, DIFU_LOG_P6);
    p = fmaf(p, t, DIFU_LOG_P5);
    p = fmaf(p, t, DIFU_LOG_P4);
    p = fmaf(p, t, DIFU_LOG_P3);
    p = fmaf(p, t, DIFU_LOG_P2);
    p = fmaf(p, t, DIFU_LOG_P1);
    p = fmaf(p, t, DIFU_LOG_P0);
    float y = (p * t) * z;
    y = fmaf(fe, DIFU_LOG_LN2_LO, y);
    y = fmaf(z, -0.5f, y);
    float r = t + y;
    return fmaf(fe, DIFU_LOG_LN2_HI, r);
}

/* cos(2 pi u) and sin(2 pi u) for u in [0, 1]: quadrant q = round(4u), angle 2 pi (u - q/4). */
static inline void difu_sincos_2pi(float u, float *c_out, float *s_out)
{
    int32_t q = (int32_t)(u * 4.0f + 0.5f);             /* exact; truncation = round half up */
    float f = u - (float)q * 0.25f;                      /* exact, in [-1/8, 1/8] */
    float x = f * DIFU_TWO_PI;
    float z = x * x;
    float sp = fmaf(DIFU_SIN_S2, z, DIFU_SIN_S1);
    sp = fmaf(sp, z, DIFU_SIN_S0);
    float s = fmaf(x * z, sp, x);
    float cp = fmaf(DIFU_COS_C2, z, DIFU_COS_C1);
    cp = fmaf(cp, z, DIFU_COS_C0);
    float c = fmaf(z * z, cp, fmaf(z, -0.5f, 1.0f));
    /* quadrant: 0 (c, s), 1 (-s, c), 2 (-c, -s), 3 (s, -c) */
    uint32_t qi = (uint32_t)q & 3u;
    float cc = (qi & 1u) ? s : c;
    float ss = (qi & 1u) ? c : s;
    *c_out = difu_u2f(difu_f2u(cc) ^ ((((qi + 1u) & 2u)) << 30));
    *s_out = difu_u2f(difu_f2u(ss) ^ ((qi & 2u) << 30));
}

/* Box-Muller on one pair of words. */
static inline void difu_box_muller(uint32_t w_radius, uint32_t w_angle, float *z0, float *z1)
{
    float r = sqrtf(-2.0f * difu_log_approx(difu_u01(w_radius)));
    float c, s;
    difu_sincos_2pi(difu_u01(w_angle), &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

/* The 4 Gaussian values of block b (elements 4b .. 4b+3). */
static inline void difu_randn_block(uint64_t seed, uint64_t step, uint32_t stream, uint32_t block,
                                    float out[4])
{
    uint32_t w[4];
    difu_philox_block(seed, step, stream, block, w);
    difu_box_muller(w[0], w[1], &out[0], &out[1]);
    difu_box_muller(w[2], w[3], &out[2], &out[3]);
}

#endif /* DIFU_PHILOX_REF_H */
