/* adam_ema_avx512.c: Adam/AdamW + EMA over n parameters, 16 lanes at a time, as difu_adam_elem
 * (update_ref.h); the tail uses the scalar formula (same bits). param, grad, m, v, ema: [n]. */
#include "ref/update_ref.h"
#include "update_avx512.h"

#include <immintrin.h>

void adam_ema_avx512(int64_t n, const difu_adam_params *p, float *param, const float *grad,
                     float *m, float *v, float *ema)
{
    const difu_adam_consts c = difu_adam_consts_of(p);
    const __m512 gs = _mm512_set1_ps(c.grad_scale), l2 = _mm512_set1_ps(c.l2);
    const __m512 b1 = _mm512_set1_ps(c.b1), omb1 = _mm512_set1_ps(c.omb1);
    const __m512 b2 = _mm512_set1_ps(c.b2), omb2 = _mm512_set1_ps(c.omb2);
    const __m512 ibc1 = _mm512_set1_ps(c.inv_bc1), ibc2 = _mm512_set1_ps(c.inv_bc2);
    const __m512 nlr = _mm512_set1_ps(c.neg_lr), decay = _mm512_set1_ps(c.decay);
    const __m512 eps = _mm512_set1_ps(c.eps), rate = _mm512_set1_ps(c.ema_rate);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 pv = _mm512_loadu_ps(param + i);
        __m512 g = _mm512_fmadd_ps(l2, pv, _mm512_mul_ps(gs, _mm512_loadu_ps(grad + i)));
        __m512 mv = _mm512_fmadd_ps(b1, _mm512_loadu_ps(m + i), _mm512_mul_ps(omb1, g));
        __m512 g2 = _mm512_mul_ps(_mm512_mul_ps(omb2, g), g);
        __m512 vv = _mm512_fmadd_ps(b2, _mm512_loadu_ps(v + i), g2);
        __m512 den = _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vv, ibc2)), eps);
        __m512 upd = _mm512_div_ps(_mm512_mul_ps(mv, ibc1), den);
        pv = _mm512_fmadd_ps(nlr, upd, _mm512_mul_ps(pv, decay));
        _mm512_storeu_ps(m + i, mv);
        _mm512_storeu_ps(v + i, vv);
        _mm512_storeu_ps(param + i, pv);
        if (ema) {
            __m512 ev = _mm512_loadu_ps(ema + i);
            _mm512_storeu_ps(ema + i, _mm512_fmadd_ps(rate, _mm512_sub_ps(pv, ev), ev));
        }
    }
    for (; i < n; i++)
        difu_adam_elem(&c, &param[i], grad[i], &m[i], &v[i], ema ? &ema[i] : NULL);
}
