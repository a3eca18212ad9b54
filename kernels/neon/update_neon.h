/* update_neon.h: the NEON kernels of the update family (signatures as in kernels.h). */
#ifndef DIFU_UPDATE_NEON_H
#define DIFU_UPDATE_NEON_H

#include "kernels.h"

void randn_neon(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                float *dst);
void randn_bits_neon(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset, int64_t n,
                     uint32_t *dst);
void q_sample_neon(int64_t n, const float *x0, float a, float b, uint64_t seed, uint64_t step,
                   uint64_t stream, int64_t offset, float *eps, float *xt);
void sampler_step_neon(int64_t n, const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                       uint64_t step, uint64_t stream, int64_t offset, float *x);
void adam_ema_neon(int64_t n, const difu_adam_params *p, float *param, const float *grad,
                   float *m, float *v, float *ema);
double sumsq_neon(int64_t n, const float *x);

#endif /* DIFU_UPDATE_NEON_H */
