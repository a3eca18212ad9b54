/* groupnorm_bwd_ref.c: reference GroupNorm backward (optionally through a fused SiLU), the oracle.
 *
 * Layouts as in groupnorm_fwd_ref.c. dy is the gradient of the op's output (of the SiLU output
 * when fused: the pre-activation h = (x - mean) * rstd * gamma + beta is recomputed, not stored).
 * With g = dL/dh, xhat = (x - mean) * rstd and N = cpg * hw, per (image, group):
 *   dbeta[c] += sum g, dgamma[c] += sum g * xhat,
 *   dx = rstd * (gamma * g - (sum_c gamma*sum g + xhat * sum_c gamma*sum g*xhat) / N).
 * Team kernel: thread ith owns a fixed slice of the groups, with their channels across all images,
 * and sums dgamma/dbeta over images in order: results do not depend on the thread count.
 * dx may alias dy. When fused, dx holds g between the two passes over a group. */
#include <math.h>

#include "norm_ref.h"

void groupnorm_bwd_ref(const difu_groupnorm_desc *d, const float *x, const float *gamma,
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
            double sum_a = 0, sum_b = 0; /* sum_c gamma * sum g, sum_c gamma * sum g * xhat */
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const float a = r * gamma[ch];
                double sg = 0, sgx = 0;
                for (int64_t j = (int64_t)c * hw; j < (int64_t)(c + 1) * hw; j++) {
                    float gv = dyg[j];
                    if (d->fuse_silu) {
                        float h = (xg[j] - m) * a + beta[ch];
                        float s = 1.0f / (1.0f + expf(-h));
                        gv = gv * s * (1.0f + h * (1.0f - s));
                        dxg[j] = gv;
                    }
                    sg += gv;
                    sgx += (double)gv * ((xg[j] - m) * r);
                }
                if (dgamma)
                    dgamma[ch] += (float)sgx;
                if (dbeta)
                    dbeta[ch] += (float)sg;
                sum_a += gamma[ch] * sg;
                sum_b += gamma[ch] * sgx;
            }
            const float ka = (float)(r * sum_a / (double)len);
            const float kb = (float)(r * sum_b / (double)len);
            const float *gsrc = d->fuse_silu ? dxg : dyg;
            for (int c = 0; c < cpg; c++) {
                const float a = r * gamma[g * cpg + c];
                for (int64_t j = (int64_t)c * hw; j < (int64_t)(c + 1) * hw; j++)
                    dxg[j] = a * gsrc[j] - (ka + ((xg[j] - m) * r) * kb);
            }
        }
    }
}
