/* vmath_neon.h: static inline aarch64 Advanced SIMD helpers of the norm family: exp, sigmoid,
 * SiLU and its derivative, and partial-vector load/store for row tails.
 *
 * exp: Cephes-style expf. n = round(x / ln2), r = x - n ln2 (ln2 in two parts), degree-6
 * polynomial for e^r, times 2^n applied as 2^(n>>1) * 2^(n-(n>>1)) so that denormals, 0 and inf
 * come out where expf gives them (unless the CPU flushes denormals). Inputs are clamped to
 * [-104, 89] (outside, expf is 0 or inf anyway). About 1 ulp; NaN gives NaN. */
#ifndef DIFU_VMATH_NEON_H
#define DIFU_VMATH_NEON_H

#include <arm_neon.h>

static inline float32x4_t difu_exp_neon(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    const int32x4_t bias = vdupq_n_s32(127);
    int32x4_t ni = vcvtq_s32_f32(n), h = vshrq_n_s32(ni, 1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, bias), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* 1 / (1 + exp(-x)) */
static inline float32x4_t difu_sigmoid_neon(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    return vdivq_f32(one, vaddq_f32(one, difu_exp_neon(vnegq_f32(x))));
}

/* x / (1 + exp(-x)) */
static inline float32x4_t difu_silu_neon(float32x4_t x)
{
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), difu_exp_neon(vnegq_f32(x))));
}

/* d silu / dx = s * (1 + x * (1 - s)), s = sigmoid(x) */
static inline float32x4_t difu_dsilu_neon(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t s = difu_sigmoid_neon(x);
    return vmulq_f32(s, vfmaq_f32(one, x, vsubq_f32(one, s)));
}

/* Loads p[0, rem), rem in [1, 4], filling the other lanes with `fill`. */
static inline float32x4_t difu_load_tail_neon(const float *p, int rem, float fill)
{
    float b[4] = {fill, fill, fill, fill};
    for (int i = 0; i < rem; i++)
        b[i] = p[i];
    return vld1q_f32(b);
}

/* v with the lanes from rem on replaced by fill, rem in [0, 4]. */
static inline float32x4_t difu_keep_lanes_neon(float32x4_t v, int rem, float fill)
{
    static const uint32_t lane[4] = {0, 1, 2, 3};
    uint32x4_t keep = vcltq_u32(vld1q_u32(lane), vdupq_n_u32((uint32_t)rem));
    return vbslq_f32(keep, v, vdupq_n_f32(fill));
}

/* Stores lanes [0, rem) of v to p. */
static inline void difu_store_tail_neon(float *p, float32x4_t v, int rem)
{
    float b[4];
    vst1q_f32(b, v);
    for (int i = 0; i < rem; i++)
        p[i] = b[i];
}

#endif /* DIFU_VMATH_NEON_H */
