/* adam_ema_neon.c: Adam/AdamW + EMA over n parameters, 4 lanes at a time, as difu_adam_elem
 * (update_ref.h); the tail uses the scalar formula (same bits). param, grad, m, v, ema: [n]. */
#include <arm_neon.h>

#include "ref/update_ref.h"
#include "update_neon.h"

void adam_ema_neon(int64_t n, const difu_adam_params *p, float *param, const float *grad,
                   float *m, float *v, float *ema)
{
    const difu_adam_consts c = difu_adam_consts_of(p);
    const float32x4_t gs = vdupq_n_f32(c.grad_scale), l2 = vdupq_n_f32(c.l2);
    const float32x4_t b1 = vdupq_n_f32(c.b1), omb1 = vdupq_n_f32(c.omb1);
    const float32x4_t b2 = vdupq_n_f32(c.b2), omb2 = vdupq_n_f32(c.omb2);
    const float32x4_t ibc1 = vdupq_n_f32(c.inv_bc1), ibc2 = vdupq_n_f32(c.inv_bc2);
    const float32x4_t nlr = vdupq_n_f32(c.neg_lr), decay = vdupq_n_f32(c.decay);
    const float32x4_t eps = vdupq_n_f32(c.eps), rate = vdupq_n_f32(c.ema_rate);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t pv = vld1q_f32(param + i);
        float32x4_t g = vfmaq_f32(vmulq_f32(gs, vld1q_f32(grad + i)), l2, pv);
        float32x4_t mv = vfmaq_f32(vmulq_f32(omb1, g), b1, vld1q_f32(m + i));
        float32x4_t vv = vfmaq_f32(vmulq_f32(vmulq_f32(omb2, g), g), b2, vld1q_f32(v + i));
        float32x4_t den = vaddq_f32(vsqrtq_f32(vmulq_f32(vv, ibc2)), eps);
        float32x4_t upd = vdivq_f32(vmulq_f32(mv, ibc1), den);
        pv = vfmaq_f32(vmulq_f32(pv, decay), nlr, upd);
        vst1q_f32(m + i, mv);
        vst1q_f32(v + i, vv);
        vst1q_f32(param + i, pv);
        if (ema) {
            float32x4_t ev = vld1q_f32(ema + i);
            vst1q_f32(ema + i, vfmaq_f32(ev, rate, vsubq_f32(pv, ev)));
        }
    }
    for (; i < n; i++)
        difu_adam_elem(&c, &param[i], grad[i], &m[i], &v[i], ema ? &ema[i] : NULL);
}
