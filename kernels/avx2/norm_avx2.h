/* norm_avx2.h: prototypes of the AVX2 kernels of the norm family (GroupNorm, SiLU, softmax).
 * Shapes and threading contracts are those of the matching typedefs in kernels.h. */
#ifndef DIFU_NORM_AVX2_H
#define DIFU_NORM_AVX2_H

#include "kernels.h"

void groupnorm_fwd_avx2(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, float *y, float *mean, float *rstd, int ith, int nth);
void groupnorm_bwd_avx2(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, const float *mean, const float *rstd, const float *dy,
                        float *dx, float *dgamma, float *dbeta, int ith, int nth);
void silu_fwd_avx2(int64_t n, const float *x, float *y);
void silu_bwd_avx2(int64_t n, const float *x, const float *dy, float *dx);
void softmax_fwd_avx2(int64_t rows, int cols, float scale, const float *x, float *y);
void softmax_bwd_avx2(int64_t rows, int cols, float scale, const float *y, const float *dy,
                      float *dx);

#endif /* DIFU_NORM_AVX2_H */
