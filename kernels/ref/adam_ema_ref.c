/* adam_ema_ref.c: reference Adam/AdamW + EMA over n parameters (param, grad, m, v, ema: [n];
 * ema may be NULL). Formula in difu.h, per element in update_ref.h. */
#include "update_ref.h"

void adam_ema_ref(int64_t n, const difu_adam_params *p, float *param, const float *grad, float *m,
                  float *v, float *ema)
{
    difu_adam_consts c = difu_adam_consts_of(p);
    for (int64_t i = 0; i < n; i++)
        difu_adam_elem(&c, &param[i], grad[i], &m[i], &v[i], ema ? &ema[i] : NULL);
}
