/* groupnorm_bwd_driver.h: the ISA-generic loops of GroupNorm backward (optionally through a
 * fused SiLU). kernels/<isa>/groupnorm_bwd_<isa>.c keeps only its vector kernels for the two
 * passes over one channel; these loops walk images, groups and channels, split the groups among
 * threads and sum across channels.
 *
 * Layouts as in groupnorm_fwd_driver.h; dy, dx [n, c, hw]; dgamma, dbeta [c] (either may be
 * NULL). With g = dL/dh (dy, through the SiLU derivative when fused), xhat = (x - mean) * rstd,
 * N = cpg * hw, per (image, group):
 *   pass 1, per channel: sum g, sum g * xhat (when fused, g is written to dx);
 *   pass 2: dx = rstd*gamma * g - (ka + xhat * kb), ka = rstd/N sum_c gamma sum g,
 *           kb = rstd/N sum_c gamma sum g*xhat.
 * dgamma[c] = sum over images of sum g * xhat, dbeta[c] = sum over images of sum g.
 *
 * A template by inclusion, as groupnorm_fwd_driver.h: the including ISA file defines gn_vec,
 * gn_set1, chan_coefs {gn_vec m, r, a, b} (mean, rstd, rstd * gamma, beta) and the two kernels
 * declared here, then includes this header. */
#ifndef DIFU_GROUPNORM_BWD_DRIVER_H
#define DIFU_GROUPNORM_BWD_DRIVER_H

#include <stdint.h>

#include "kernels.h"

/* The kernels (declared again so that their types are checked).
 * Pass 1 over one channel of hw floats: *sg = sum g, *sgx = sum g * xhat. */
static void channel_sums(const float *x, const float *dy, float *dx, int hw, const chan_coefs *k,
                         int fuse, float *sg, float *sgx);
/* Pass 2 over one channel: dx = a * g - (ka + xhat * kb). Prefetches x + ahead and dy + ahead
 * (the next group's data) so its first pass finds them in cache. */
static void channel_dx(const float *x, const float *g, float *dx, const float *dy, int64_t ahead,
                       int hw, const chan_coefs *k, gn_vec ka, gn_vec kb);

/* Out of line for the reason given in groupnorm_fwd_driver.h.
 * Team kernel: thread ith owns a fixed slice of the groups (their channels across all images)
 * and sums over images in order, so dx, dgamma and dbeta do not depend on the thread count.
 * dx may alias dy. */
__attribute__((noinline))
static void groupnorm_bwd_drive(const difu_groupnorm_desc *d, const float *x,
                                const float *gamma, const float *beta, const float *mean,
                                const float *rstd, const float *dy, float *dx,
                                float *dgamma, float *dbeta, int ith, int nth)
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
                const chan_coefs k = {gn_set1(m), gn_set1(r), gn_set1(r * gamma[ch]),
                                      gn_set1(beta[ch])};
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
            const gn_vec ka = gn_set1(r * sum_a / (float)len);
            const gn_vec kb = gn_set1(r * sum_b / (float)len);
            const float *gsrc = d->fuse_silu ? dxg : dyg;
            const int64_t next = g + 1 < g1 ? it + 1 : it + d->groups - (g1 - g0) + 1;
            const int64_t ahead = next < (int64_t)d->n * d->groups ? (next - it) * len : 0;
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const chan_coefs k = {gn_set1(m), gn_set1(r), gn_set1(r * gamma[ch]),
                                      gn_set1(beta[ch])};
                const int64_t off = (int64_t)c * hw;
                channel_dx(xg + off, gsrc + off, dxg + off, dyg + off, ahead, hw, &k, ka, kb);
            }
        }
    }
}

#endif /* DIFU_GROUPNORM_BWD_DRIVER_H */
