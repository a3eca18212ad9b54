/* groupnorm_bwd_avx2.c: GroupNorm backward (optionally through a fused SiLU) with AVX2+FMA.
 *
 * The two passes over one channel; the loops over images, groups and channels, the split among
 * threads and the math are in groupnorm_bwd_driver.h. */
#include "norm_avx2.h"
#include "vmath_avx2.h"

/* The vector type, broadcast and channel coefficients of the driver template (included below
 * the kernels). */
typedef __m256 gn_vec;
static inline gn_vec gn_set1(float v)
{
    return _mm256_set1_ps(v);
}

typedef struct chan_coefs {
    gn_vec m, r, a, b; /* mean, rstd, rstd * gamma, beta */
} chan_coefs;

/* Pass 1 over one channel of hw floats: *sg = sum g, *sgx = sum g * xhat. */
static void channel_sums(const float *x, const float *dy, float *dx, int hw, const chan_coefs *k,
                         int fuse, float *sg, float *sgx)
{
    __m256 ag = _mm256_setzero_ps(), agx = ag;
    int j = 0;
    for (; j + 8 <= hw; j += 8) {
        __m256 dev = _mm256_sub_ps(_mm256_loadu_ps(x + j), k->m);
        __m256 g = _mm256_loadu_ps(dy + j);
        if (fuse) {
            g = _mm256_mul_ps(g, difu_dsilu_avx2(_mm256_fmadd_ps(dev, k->a, k->b)));
            _mm256_storeu_ps(dx + j, g);
        }
        ag = _mm256_add_ps(ag, g);
        agx = _mm256_fmadd_ps(g, _mm256_mul_ps(dev, k->r), agx);
    }
    if (j < hw) {
        __m256i m = difu_tail_mask_avx2(hw - j);
        __m256 dev = _mm256_sub_ps(_mm256_maskload_ps(x + j, m), k->m);
        __m256 g = _mm256_maskload_ps(dy + j, m); /* 0 outside the tail */
        if (fuse) {
            g = _mm256_mul_ps(g, difu_dsilu_avx2(_mm256_fmadd_ps(dev, k->a, k->b)));
            _mm256_maskstore_ps(dx + j, m, g);
        }
        ag = _mm256_add_ps(ag, g);
        agx = _mm256_fmadd_ps(g, _mm256_mul_ps(dev, k->r), agx);
    }
    *sg = difu_hsum_avx2(ag);
    *sgx = difu_hsum_avx2(agx);
}

/* Pass 2 over one channel: dx = a * g - (ka + xhat * kb). Prefetches x + ahead and dy + ahead
 * (the next group's data) so its first pass finds them in cache. */
static void channel_dx(const float *x, const float *g, float *dx, const float *dy, int64_t ahead,
                       int hw, const chan_coefs *k, __m256 ka, __m256 kb)
{
    int j = 0;
    for (; j + 8 <= hw; j += 8) {
        _mm_prefetch((const char *)(x + j + ahead), _MM_HINT_T0);
        _mm_prefetch((const char *)(dy + j + ahead), _MM_HINT_T0);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), k->m), k->r);
        __m256 t = _mm256_fmadd_ps(xh, kb, ka);
        _mm256_storeu_ps(dx + j, _mm256_fmsub_ps(k->a, _mm256_loadu_ps(g + j), t));
    }
    if (j < hw) {
        __m256i m = difu_tail_mask_avx2(hw - j);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), k->m), k->r);
        _mm256_maskstore_ps(
            dx + j, m,
            _mm256_fmsub_ps(k->a, _mm256_maskload_ps(g + j, m), _mm256_fmadd_ps(xh, kb, ka)));
    }
}

#include "groupnorm_bwd_driver.h"

void groupnorm_bwd_avx2(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                        const float *beta, const float *mean, const float *rstd, const float *dy,
                        float *dx, float *dgamma, float *dbeta, int ith, int nth)
{
    groupnorm_bwd_drive(d, x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, ith, nth);
}
