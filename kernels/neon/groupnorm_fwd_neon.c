/* groupnorm_fwd_neon.c: GroupNorm forward (optionally fused with SiLU) with aarch64 Advanced SIMD.
 *
 * x, y [n, c, hw]; gamma, beta [c]; mean, rstd [n, groups]. Group g of image i is the contiguous
 * block of cpg * hw floats at (i * groups + g) * cpg * hw, cpg = c / groups; any hw >= 1 (row
 * tails use partial loads/stores). Per group: pass 1 sums x to a first mean m0, pass 2 sums
 * d = x - m0 and d^2, so mean = m0 + sum d / N and var = sum d^2 / N - (sum d / N)^2 stay exact
 * for large means; pass 3 writes y = (x - mean) * (rstd * gamma) + beta (then SiLU when fused).
 * A group (at most a few hundred KB) stays in cache across the passes.
 * The loop over groups and the split among threads: groupnorm_fwd_driver.h. */
#include <math.h>

#include "norm_neon.h"
#include "vmath_neon.h"

/* The vector type and broadcast of the driver template, included below the kernels. */
typedef float32x4_t gn_vec;
static inline gn_vec gn_set1(float v)
{
    return vdupq_n_f32(v);
}

static void group_stats(const float *x, int64_t len, float eps, float *mean, float *rstd)
{
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        a0 = vaddq_f32(a0, vld1q_f32(x + i));
        a1 = vaddq_f32(a1, vld1q_f32(x + i + 4));
        a2 = vaddq_f32(a2, vld1q_f32(x + i + 8));
        a3 = vaddq_f32(a3, vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= len; i += 4)
        a0 = vaddq_f32(a0, vld1q_f32(x + i));
    if (i < len)
        a1 = vaddq_f32(a1, difu_load_tail_neon(x + i, (int)(len - i), 0.0f));
    const float m0 =
        (float)((double)vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))) / (double)len);
    const float32x4_t vm = vdupq_n_f32(m0);
    float32x4_t s1a = vdupq_n_f32(0.0f), s1b = s1a, s2a = s1a, s2b = s1a;
    for (i = 0; i + 8 <= len; i += 8) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), vm);
        float32x4_t d1 = vsubq_f32(vld1q_f32(x + i + 4), vm);
        s1a = vaddq_f32(s1a, d0);
        s1b = vaddq_f32(s1b, d1);
        s2a = vfmaq_f32(s2a, d0, d0);
        s2b = vfmaq_f32(s2b, d1, d1);
    }
    for (; i < len; i += 4) {
        /* lanes past the end load m0, so their d is 0 */
        float32x4_t d =
            vsubq_f32(difu_load_tail_neon(x + i, len - i < 4 ? (int)(len - i) : 4, m0), vm);
        s1a = vaddq_f32(s1a, d);
        s2a = vfmaq_f32(s2a, d, d);
    }
    const double dm = (double)vaddvq_f32(vaddq_f32(s1a, s1b)) / (double)len;
    double var = (double)vaddvq_f32(vaddq_f32(s2a, s2b)) / (double)len - dm * dm;
    if (var < 0)
        var = 0;
    *mean = (float)((double)m0 + dm);
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
}

/* y = (x - mean) * a + b over hw floats, then SiLU when fuse. Prefetches x + ahead (the same
 * place in the next group) so its first pass finds it in cache. */
static void norm_channel(const float *x, float *y, int hw, int64_t ahead, float32x4_t vm,
                         float32x4_t va, float32x4_t vb, int fuse)
{
    int j = 0;
    if (fuse) {
        for (; j + 4 <= hw; j += 4) {
            if ((j & 15) == 0) /* about one per 64-byte line */
                __builtin_prefetch(x + j + ahead);
            vst1q_f32(y + j, difu_silu_neon(vfmaq_f32(vb, vsubq_f32(vld1q_f32(x + j), vm), va)));
        }
    } else {
        for (; j + 4 <= hw; j += 4) {
            if ((j & 15) == 0) /* about one per 64-byte line */
                __builtin_prefetch(x + j + ahead);
            vst1q_f32(y + j, vfmaq_f32(vb, vsubq_f32(vld1q_f32(x + j), vm), va));
        }
    }
    if (j < hw) {
        float32x4_t h = vfmaq_f32(vb, vsubq_f32(difu_load_tail_neon(x + j, hw - j, 0.0f), vm), va);
        difu_store_tail_neon(y + j, fuse ? difu_silu_neon(h) : h, hw - j);
    }
}

#include "groupnorm_fwd_driver.h"

void groupnorm_fwd_neon(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, float *y, float *mean, float *rstd, int ith, int nth)
{
    groupnorm_fwd_drive(d, x, gamma, beta, y, mean, rstd, ith, nth);
}
