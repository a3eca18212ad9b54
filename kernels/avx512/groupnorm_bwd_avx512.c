/* groupnorm_bwd_avx512.c: GroupNorm backward (optionally through a fused SiLU) with AVX-512F.
 *
 * The two passes over one channel; the loops over images, groups and channels, the split among
 * threads and the math are in groupnorm_bwd_driver.h. */
#include "norm_avx512.h"
#include "vmath_avx512.h"

/* The vector type, broadcast and channel coefficients of the driver template (included below
 * the kernels). */
typedef __m512 gn_vec;
static inline gn_vec gn_set1(float v)
{
    return _mm512_set1_ps(v);
}

typedef struct chan_coefs {
    gn_vec m, r, a, b; /* mean, rstd, rstd * gamma, beta */
} chan_coefs;

/* Pass 1 over one channel of hw floats: *sg = sum g, *sgx = sum g * xhat. */
static void channel_sums(const float *x, const float *dy, float *dx, int hw, const chan_coefs *k,
                         int fuse, float *sg, float *sgx)
{
    __m512 ag = _mm512_setzero_ps(), agx = ag;
    int j = 0;
    for (; j + 16 <= hw; j += 16) {
        __m512 dev = _mm512_sub_ps(_mm512_loadu_ps(x + j), k->m);
        __m512 g = _mm512_loadu_ps(dy + j);
        if (fuse) {
            g = _mm512_mul_ps(g, difu_dsilu_avx512(_mm512_fmadd_ps(dev, k->a, k->b)));
            _mm512_storeu_ps(dx + j, g);
        }
        ag = _mm512_add_ps(ag, g);
        agx = _mm512_fmadd_ps(g, _mm512_mul_ps(dev, k->r), agx);
    }
    if (j < hw) {
        __mmask16 m = difu_tail_mask_avx512(hw - j);
        __m512 dev = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), k->m);
        __m512 g = _mm512_maskz_loadu_ps(m, dy + j); /* 0 outside the tail */
        if (fuse) {
            g = _mm512_mul_ps(g, difu_dsilu_avx512(_mm512_fmadd_ps(dev, k->a, k->b)));
            _mm512_mask_storeu_ps(dx + j, m, g);
        }
        ag = _mm512_add_ps(ag, g);
        agx = _mm512_fmadd_ps(g, _mm512_mul_ps(dev, k->r), agx);
    }
    *sg = _mm512_reduce_add_ps(ag);
    *sgx = _mm512_reduce_add_ps(agx);
}

/* Pass 2 over one channel: dx = a * g - (ka + xhat * kb). Prefetches x + ahead and dy + ahead
 * (the next group's data) so its first pass finds them in cache. */
static void channel_dx(const float *x, const float *g, float *dx, const float *dy, int64_t ahead,
                       int hw, const chan_coefs *k, __m512 ka, __m512 kb)
{
    int j = 0;
    for (; j + 16 <= hw; j += 16) {
        _mm_prefetch((const char *)(x + j + ahead), _MM_HINT_T0);
        _mm_prefetch((const char *)(dy + j + ahead), _MM_HINT_T0);
        __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), k->m), k->r);
        __m512 t = _mm512_fmadd_ps(xh, kb, ka);
        _mm512_storeu_ps(dx + j, _mm512_fmsub_ps(k->a, _mm512_loadu_ps(g + j), t));
    }
    if (j < hw) {
        __mmask16 m = difu_tail_mask_avx512(hw - j);
        __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), k->m), k->r);
        _mm512_mask_storeu_ps(
            dx + j, m,
            _mm512_fmsub_ps(k->a, _mm512_maskz_loadu_ps(m, g + j), _mm512_fmadd_ps(xh, kb, ka)));
    }
}

#include "groupnorm_bwd_driver.h"

void groupnorm_bwd_avx512(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                          const float *beta, const float *mean, const float *rstd, const float *dy,
                          float *dx, float *dgamma, float *dbeta, int ith, int nth)
{
    groupnorm_bwd_drive(d, x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, ith, nth);
}
