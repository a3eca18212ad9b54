/* groupnorm_fwd_driver.h: the ISA-generic loop of GroupNorm forward (optionally fused with SiLU).
 * kernels/<isa>/groupnorm_fwd_<isa>.c keeps only its vector kernels for one group and one
 * channel; this loop walks the groups, splits them among threads and feeds the kernels.
 *
 * x, y [n, c, hw]; gamma, beta [c]; mean, rstd [n, groups]. Group g of image i is the contiguous
 * block of len = cpg * hw floats at (i * groups + g) * len, cpg = c / groups.
 *
 * A template by inclusion, for the ISA folders only: the including file defines its float vector
 * type gn_vec, its broadcast gn_set1 and the two kernels declared here, then includes this header
 * after the kernels. All of it is static: each ISA's copy is compiled with that folder's flags
 * and its kernels are inlined into it, and no symbol is shared between ISAs. */
#ifndef DIFU_GROUPNORM_FWD_DRIVER_H
#define DIFU_GROUPNORM_FWD_DRIVER_H

#include <stdint.h>

#include "kernels.h"

/* The kernels (declared again so that their types are checked).
 * One group of len floats: its mean and 1 / sqrt(var + eps). */
static void group_stats(const float *x, int64_t len, float eps, float *mean, float *rstd);
/* One channel of hw floats: y = (x - mean) * a + b, then SiLU when fuse. Prefetches x + ahead
 * (the same place in the next group; ahead is 0 for the last) so its first pass finds it in
 * cache. */
static void norm_channel(const float *x, float *y, int hw, int64_t ahead, gn_vec vm, gn_vec va,
                         gn_vec vb, int fuse);

/* Team kernel: thread ith of nth takes a fixed slice of the n * groups items; y == x is allowed.
 * Out of line (noinline), this compiles to exactly the code the loop had when it was written out
 * in each ISA file; inlined into the entry point, GCC 12 spills the mean vector in the AVX2 and
 * AVX-512 channel loops (5-8% slower). */
__attribute__((noinline))
static void groupnorm_fwd_drive(const difu_groupnorm_desc *d, const float *x,
                                const float *gamma, const float *beta, float *y, float *mean,
                                float *rstd, int ith, int nth)
{
    const int cpg = d->c / d->groups, hw = d->hw;
    const int64_t len = (int64_t)cpg * hw;
    const int64_t items = (int64_t)d->n * d->groups;
    const int64_t i0 = items * ith / nth, i1 = items * (ith + 1) / nth;
    for (int64_t it = i0; it < i1; it++) {
        const int g = (int)(it % d->groups);
        const float *xg = x + it * len;
        float *yg = y + it * len;
        float m, r;
        group_stats(xg, len, d->eps, &m, &r);
        mean[it] = m;
        rstd[it] = r;
        for (int c = 0; c < cpg; c++) {
            const int ch = g * cpg + c;
            norm_channel(xg + (int64_t)c * hw, yg + (int64_t)c * hw, hw, it + 1 < i1 ? len : 0,
                         gn_set1(m), gn_set1(r * gamma[ch]), gn_set1(beta[ch]), d->fuse_silu);
        }
    }
}

#endif /* DIFU_GROUPNORM_FWD_DRIVER_H */
