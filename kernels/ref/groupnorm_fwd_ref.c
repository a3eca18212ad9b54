/* groupnorm_fwd_ref.c: reference GroupNorm forward (optionally fused with SiLU), the test oracle.
 *
 * x, y [n, c, hw]; gamma, beta [c]; mean, rstd [n, groups]. Group g of image i is the contiguous
 * block of cpg * hw floats at (i * groups + g) * cpg * hw, cpg = c / groups. Statistics are taken
 * in double with two passes (mean, then centred squares), so large means do not cancel.
 * y = (x - mean) * (rstd * gamma) + beta, then y = y / (1 + exp(-y)) when fused.
 * Team kernel: thread ith of nth takes a fixed slice of the n * groups (image, group) items; each
 * item's result does not depend on the split. */
#include <math.h>

#include "norm_ref.h"

void groupnorm_fwd_ref(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                       const float *beta, float *y, float *mean, float *rstd, int ith, int nth)
{
    const int cpg = d->c / d->groups;
    const int64_t len = (int64_t)cpg * d->hw;
    const int64_t items = (int64_t)d->n * d->groups;
    const int64_t i0 = items * ith / nth, i1 = items * (ith + 1) / nth;
    for (int64_t it = i0; it < i1; it++) {
        const int g = (int)(it % d->groups);
        const float *xg = x + it * len;
        float *yg = y + it * len;
        double sum = 0;
        for (int64_t i = 0; i < len; i++)
            sum += xg[i];
        double m = sum / (double)len, sq = 0;
        for (int64_t i = 0; i < len; i++)
            sq += ((double)xg[i] - m) * ((double)xg[i] - m);
        const float mf = (float)m;
        const float r = (float)(1.0 / sqrt(sq / (double)len + (double)d->eps));
        mean[it] = mf;
        rstd[it] = r;
        for (int c = 0; c < cpg; c++) {
            const int ch = g * cpg + c;
            const float a = r * gamma[ch], b = beta[ch];
            const float *xc = xg + (int64_t)c * d->hw;
            float *yc = yg + (int64_t)c * d->hw;
            for (int j = 0; j < d->hw; j++) {
                float h = (xc[j] - mf) * a + b;
                yc[j] = d->fuse_silu ? h / (1.0f + expf(-h)) : h;
            }
        }
    }
}
