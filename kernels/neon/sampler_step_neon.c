/* sampler_step_neon.c: one reverse step on one image's elements [offset, offset + n) of x, in
 * place, 4 lanes at a time, as difu_sampler_elem (update_ref.h); with sigma != 0 the noise is
 * drawn 16 elements at a time in registers. Partial vectors use the scalar formula (same bits). */
#include "philox_neon.h"
#include "ref/update_ref.h"
#include "update_neon.h"

typedef struct sampler_vcoefs {
    float32x4_t cxt, ceps, neg_sab, s1mab, cx0, cxt2, cdir, lo, hi;
    int clip;
} sampler_vcoefs;

static sampler_vcoefs vcoefs(const difu_sampler_coefs *c)
{
    sampler_vcoefs v;
    v.cxt = vdupq_n_f32(c->c_x0_xt);
    v.ceps = vdupq_n_f32(c->c_x0_eps);
    v.neg_sab = vdupq_n_f32(-c->sqrt_ab);
    v.s1mab = vdupq_n_f32(c->sqrt_1mab);
    v.cx0 = vdupq_n_f32(c->c_x0);
    v.cxt2 = vdupq_n_f32(c->c_xt);
    v.cdir = vdupq_n_f32(c->c_dir);
    v.lo = vdupq_n_f32(-1.0f);
    v.hi = vdupq_n_f32(1.0f);
    v.clip = c->clip_x0;
    return v;
}

static inline float32x4_t sampler_vec(const sampler_vcoefs *v, float32x4_t x, float32x4_t e)
{
    /* fmaf(cxt, x, -(ceps * e)) */
    float32x4_t x0 = vfmaq_f32(vnegq_f32(vmulq_f32(v->ceps, e)), v->cxt, x);
    float32x4_t dir = e;
    if (v->clip) {
        x0 = vminq_f32(v->hi, vmaxq_f32(v->lo, x0)); /* NaN passes, as difu_clamp1 */
        dir = vdivq_f32(vfmaq_f32(x, v->neg_sab, x0), v->s1mab);
    }
    float32x4_t acc = vmulq_f32(v->cx0, x0);
    acc = vfmaq_f32(acc, v->cxt2, x);
    return vfmaq_f32(acc, v->cdir, dir);
}

void sampler_step_neon(int64_t n, const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                       uint64_t step, uint64_t stream, int64_t offset, float *x)
{
    const sampler_vcoefs v = vcoefs(c);
    if (c->sigma == 0.0f) {
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(x + i, sampler_vec(&v, vld1q_f32(x + i), vld1q_f32(eps + i)));
        for (; i < n; i++)
            x[i] = difu_sampler_elem(c, x[i], eps[i]);
        return;
    }
    const float32x4_t sigma = vdupq_n_f32(c->sigma);
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        float32x4_t z[4];
        difu_randn16_neon(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        int64_t i = j - offset;
        if (base == j && end - j >= DIFU_NEON_GROUP) {
            for (int g = 0; g < 4; g++) {
                float32x4_t xv = vld1q_f32(x + i + 4 * g);
                float32x4_t r = sampler_vec(&v, xv, vld1q_f32(eps + i + 4 * g));
                vst1q_f32(x + i + 4 * g, vfmaq_f32(r, sigma, z[g]));
            }
            j += DIFU_NEON_GROUP;
            continue;
        }
        float buf[DIFU_NEON_GROUP];
        for (int g = 0; g < 4; g++)
            vst1q_f32(buf + 4 * g, z[g]);
        int64_t stop = base + DIFU_NEON_GROUP < end ? base + DIFU_NEON_GROUP : end;
        for (; j < stop; j++) {
            int64_t k = j - offset;
            x[k] = fmaf(c->sigma, buf[j - base], difu_sampler_elem(c, x[k], eps[k]));
        }
    }
}
