/* groupnorm_bwd_neon.c: GroupNorm backward (optionally through a fused SiLU) with aarch64 Advanced
 * SIMD.
 *
 * The two passes over one channel; the loops over images, groups and channels, the split among
 * threads and the math are in groupnorm_bwd_driver.h. */
#include "norm_neon.h"
#include "vmath_neon.h"

/* The vector type, broadcast and channel coefficients of the driver template (included below
 * the kernels). */
typedef float32x4_t gn_vec;
static inline gn_vec gn_set1(float v)
{
    return vdupq_n_f32(v);
}

typedef struct chan_coefs {
    gn_vec m, r, a, b; /* mean, rstd, rstd * gamma, beta */
} chan_coefs;

/* Pass 1 over one channel of hw floats: *sg = sum g, *sgx = sum g * xhat. */
static void channel_sums(const float *x, const float *dy, float *dx, int hw, const chan_coefs *k,
                         int fuse, float *sg, float *sgx)
{
    float32x4_t ag = vdupq_n_f32(0.0f), agx = ag;
    int j = 0;
    for (; j + 4 <= hw; j += 4) {
        float32x4_t dev = vsubq_f32(vld1q_f32(x + j), k->m);
        float32x4_t g = vld1q_f32(dy + j);
        if (fuse) {
            g = vmulq_f32(g, difu_dsilu_neon(vfmaq_f32(k->b, dev, k->a)));
            vst1q_f32(dx + j, g);
        }
        ag = vaddq_f32(ag, g);
        agx = vfmaq_f32(agx, g, vmulq_f32(dev, k->r));
    }
    if (j < hw) {
        const int rem = hw - j;
        float32x4_t dev = vsubq_f32(difu_load_tail_neon(x + j, rem, 0.0f), k->m);
        float32x4_t g = difu_load_tail_neon(dy + j, rem, 0.0f); /* 0 outside the tail */
        if (fuse) {
            g = vmulq_f32(g, difu_dsilu_neon(vfmaq_f32(k->b, dev, k->a)));
            difu_store_tail_neon(dx + j, g, rem);
        }
        ag = vaddq_f32(ag, g);
        agx = vfmaq_f32(agx, g, vmulq_f32(dev, k->r));
    }
    *sg = vaddvq_f32(ag);
    *sgx = vaddvq_f32(agx);
}

/* Pass 2 over one channel: dx = a * g - (ka + xhat * kb). Prefetches x + ahead and dy + ahead
 * (the next group's data) so its first pass finds them in cache. */
static void channel_dx(const float *x, const float *g, float *dx, const float *dy, int64_t ahead,
                       int hw, const chan_coefs *k, float32x4_t ka, float32x4_t kb)
{
    int j = 0;
    for (; j + 4 <= hw; j += 4) {
        if ((j & 15) == 0) { /* about one per 64-byte line */
            __builtin_prefetch(x + j + ahead);
            __builtin_prefetch(dy + j + ahead);
        }
        float32x4_t xh = vmulq_f32(vsubq_f32(vld1q_f32(x + j), k->m), k->r);
        float32x4_t t = vfmaq_f32(ka, xh, kb);
        vst1q_f32(dx + j, vsubq_f32(vmulq_f32(k->a, vld1q_f32(g + j)), t));
    }
    if (j < hw) {
        const int rem = hw - j;
        float32x4_t xh = vmulq_f32(vsubq_f32(difu_load_tail_neon(x + j, rem, 0.0f), k->m), k->r);
        float32x4_t t = vfmaq_f32(ka, xh, kb);
        difu_store_tail_neon(
            dx + j, vsubq_f32(vmulq_f32(k->a, difu_load_tail_neon(g + j, rem, 0.0f)), t), rem);
    }
}

#include "groupnorm_bwd_driver.h"

void groupnorm_bwd_neon(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, const float *mean, const float *rstd, const float *dy,
                        float *dx, float *dgamma, float *dbeta, int ith, int nth)
{
    groupnorm_bwd_drive(d, x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, ith, nth);
}
