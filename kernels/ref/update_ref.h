/* update_ref.h: the update family's reference kernels (randn, q_sample, sampler_step, adam_ema,
 * sumsq) and the per-element formulas they are made of. The SIMD kernels repeat these formulas
 * operation for operation (fmaf = a fused multiply-add) and call them for their tails, so every
 * ISA gives the same bits as the reference, except sumsq, whose double sum is reassociated.
 * Static inline only, so ISA-flagged units may include it. */
#ifndef DIFU_UPDATE_REF_H
#define DIFU_UPDATE_REF_H

#include <math.h>

#include "kernels.h"
#include "ref/philox_ref.h"

void randn_ref(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
               float *dst);
void randn_bits_ref(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                    uint32_t *dst);
void q_sample_ref(int64_t n, const float *x0, float a, float b, uint64_t seed, uint64_t step,
                  uint64_t stream, int64_t offset, float *eps, float *xt);
void sampler_step_ref(int64_t n, const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                      uint64_t step, uint64_t stream, int64_t offset, float *x);
void adam_ema_ref(int64_t n, const difu_adam_params *p, float *param, const float *grad, float *m,
                  float *v, float *ema);
double sumsq_ref(int64_t n, const float *x);

/* ---------------------------------------------------------------- q_sample */

static inline float difu_q_sample_elem(float a, float b, float x0, float eps)
{
    return fmaf(a, x0, b * eps);
}

/* ---------------------------------------------------------------- sampler step */

/* Clamp to [-1, 1] that keeps NaN (as maxps/minps with the bound first, and vmaxq/vminq, do). */
static inline float difu_clamp1(float x)
{
    float t = -1.0f > x ? -1.0f : x;
    return 1.0f < t ? 1.0f : t;
}

/* The new x without the noise term (the kernels add fmaf(sigma, z, .) when sigma != 0). */
static inline float difu_sampler_elem(const difu_sampler_coefs *c, float x, float eps)
{
    float x0 = fmaf(c->c_x0_xt, x, -(c->c_x0_eps * eps));
    float dir = eps;
    if (c->clip_x0) {
        x0 = difu_clamp1(x0);
        dir = fmaf(-c->sqrt_ab, x0, x) / c->sqrt_1mab;
    }
    float acc = c->c_x0 * x0;
    acc = fmaf(c->c_xt, x, acc);
    return fmaf(c->c_dir, dir, acc);
}

/* ---------------------------------------------------------------- Adam + EMA */

/* The per-call constants of Adam, computed once in float (the same way on every ISA). */
typedef struct difu_adam_consts {
    float grad_scale, l2;
    float b1, omb1, b2, omb2;
    float inv_bc1, inv_bc2;
    float neg_lr, decay; /* decay = 1 - lr * decoupled_wd */
    float eps;
    float ema_rate;      /* 1 - ema_decay */
} difu_adam_consts;

static inline difu_adam_consts difu_adam_consts_of(const difu_adam_params *p)
{
    difu_adam_consts c;
    c.grad_scale = p->grad_scale;
    c.l2 = p->l2;
    c.b1 = p->beta1;
    c.omb1 = 1.0f - p->beta1;
    c.b2 = p->beta2;
    c.omb2 = 1.0f - p->beta2;
    c.inv_bc1 = 1.0f / p->bc1;
    c.inv_bc2 = 1.0f / p->bc2;
    c.neg_lr = -p->lr;
    c.decay = 1.0f - p->lr * p->decoupled_wd;
    c.eps = p->eps;
    c.ema_rate = 1.0f - p->ema_decay;
    return c;
}

/* One parameter: g' = s g + l2 p; m, v moments; p = p (1 - lr wd) - lr mhat / (sqrt(vhat) + eps);
 * ema += (1 - decay) (p - ema) when ema is not NULL. */
static inline void difu_adam_elem(const difu_adam_consts *c, float *p, float g, float *m, float *v,
                                  float *ema)
{
    float pv = *p;
    float gg = fmaf(c->l2, pv, c->grad_scale * g);
    float mv = fmaf(c->b1, *m, c->omb1 * gg);
    float vv = fmaf(c->b2, *v, (c->omb2 * gg) * gg);
    float den = sqrtf(vv * c->inv_bc2) + c->eps;
    float upd = (mv * c->inv_bc1) / den;
    pv = fmaf(c->neg_lr, upd, pv * c->decay);
    *m = mv;
    *v = vv;
    *p = pv;
    if (ema)
        *ema = fmaf(c->ema_rate, pv - *ema, *ema);
}

#endif /* DIFU_UPDATE_REF_H */
