/* groupnorm_bwd_neon.c: GroupNorm backward (optionally through a fused SiLU) with aarch64 Advanced
 * SIMD.
 *
 * Layouts as in groupnorm_fwd_neon.c. dy is the gradient of the op's output (of the SiLU output
 * when fused: h = (x - mean) * rstd * gamma + beta is recomputed from x, mean, rstd, gamma, beta).
 * With g = dL/dh, xhat = (x - mean) * rstd, N = cpg * hw, per (image, group):
 *   pass 1, per channel: sum g, sum g * xhat (when fused, g is written to dx);
 *   pass 2: dx = rstd*gamma * g - (ka + xhat * kb), ka = rstd/N sum_c gamma sum g,
 *           kb = rstd/N sum_c gamma sum g*xhat.
 * dgamma[c] = sum over images of sum g * xhat, dbeta[c] = sum over images of sum g.
 * Team kernel: thread ith owns a fixed slice of the groups (their channels across all images) and
 * sums over images in order, so dx, dgamma and dbeta do not depend on the thread count.
 * dx may alias dy. */
#include "norm_neon.h"
#include "vmath_neon.h"

typedef struct chan_coefs {
    float32x4_t m, r, a, b; /* mean, rstd, rstd * gamma, beta */
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

void groupnorm_bwd_neon(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, const float *mean, const float *rstd, const float *dy,
                        float *dx, float *dgamma, float *dbeta, int ith, int nth)
{
    const int cpg = d->c / d->groups, hw = d->hw;
    const int64_t len = (int64_t)cpg * hw;
    const int g0 = (int)((int64_t)d->groups * ith / nth);
    const int g1 = (int)((int64_t)d->groups * (ith + 1) / nth);
    for (int c = g0 * cpg; c < g1 * cpg; c++) {
        if (dgamma)
            dgamma[c] = 0;
        if (dbeta)
            dbeta[c] = 0;
    }
    for (int n = 0; n < d->n; n++) {
        for (int g = g0; g < g1; g++) {
            const int64_t it = (int64_t)n * d->groups + g;
            const float m = mean[it], r = rstd[it];
            const float *xg = x + it * len, *dyg = dy + it * len;
            float *dxg = dx + it * len;
            float sum_a = 0, sum_b = 0;
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const chan_coefs k = {vdupq_n_f32(m), vdupq_n_f32(r), vdupq_n_f32(r * gamma[ch]),
                                      vdupq_n_f32(beta[ch])};
                const int64_t off = (int64_t)c * hw;
                float sg, sgx;
                channel_sums(xg + off, dyg + off, dxg + off, hw, &k, d->fuse_silu, &sg, &sgx);
                if (dgamma)
                    dgamma[ch] += sgx;
                if (dbeta)
                    dbeta[ch] += sg;
                sum_a += gamma[ch] * sg;
                sum_b += gamma[ch] * sgx;
            }
            const float32x4_t ka = vdupq_n_f32(r * sum_a / (float)len);
            const float32x4_t kb = vdupq_n_f32(r * sum_b / (float)len);
            const float *gsrc = d->fuse_silu ? dxg : dyg;
            const int64_t next = g + 1 < g1 ? it + 1 : it + d->groups - (g1 - g0) + 1;
            const int64_t ahead = next < (int64_t)d->n * d->groups ? (next - it) * len : 0;
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const chan_coefs k = {vdupq_n_f32(m), vdupq_n_f32(r), vdupq_n_f32(r * gamma[ch]),
                                      vdupq_n_f32(beta[ch])};
                const int64_t off = (int64_t)c * hw;
                channel_dx(xg + off, gsrc + off, dxg + off, dyg + off, ahead, hw, &k, ka, kb);
            }
        }
    }
}
