/* groupnorm_bwd_avx2.c: GroupNorm backward (optionally through a fused SiLU) with AVX2+FMA.
 *
 * Layouts as in groupnorm_fwd_avx2.c. dy is the gradient of the op's output (of the SiLU output
 * when fused: h = (x - mean) * rstd * gamma + beta is recomputed from x, mean, rstd, gamma, beta).
 * With g = dL/dh, xhat = (x - mean) * rstd, N = cpg * hw, per (image, group):
 *   pass 1, per channel: sum g, sum g * xhat (when fused, g is written to dx);
 *   pass 2: dx = rstd*gamma * g - (ka + xhat * kb), ka = rstd/N sum_c gamma sum g,
 *           kb = rstd/N sum_c gamma sum g*xhat.
 * dgamma[c] = sum over images of sum g * xhat, dbeta[c] = sum over images of sum g.
 * Team kernel: thread ith owns a fixed slice of the groups (their channels across all images) and
 * sums over images in order, so dx, dgamma and dbeta do not depend on the thread count.
 * dx may alias dy. */
#include "norm_avx2.h"
#include "vmath_avx2.h"

typedef struct chan_coefs {
    __m256 m, r, a, b; /* mean, rstd, rstd * gamma, beta */
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

void groupnorm_bwd_avx2(const difu_groupnorm_desc *d, const float *x, const float *gamma,
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
            float sum_a = 0, sum_b = 0;
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const chan_coefs k = {_mm256_set1_ps(m), _mm256_set1_ps(r),
                                      _mm256_set1_ps(r * gamma[ch]), _mm256_set1_ps(beta[ch])};
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
            const __m256 ka = _mm256_set1_ps(r * sum_a / (float)len);
            const __m256 kb = _mm256_set1_ps(r * sum_b / (float)len);
            const float *gsrc = d->fuse_silu ? dxg : dyg;
            const int64_t next = g + 1 < g1 ? it + 1 : it + d->groups - (g1 - g0) + 1;
            const int64_t ahead = next < (int64_t)d->n * d->groups ? (next - it) * len : 0;
            for (int c = 0; c < cpg; c++) {
                const int ch = g * cpg + c;
                const chan_coefs k = {_mm256_set1_ps(m), _mm256_set1_ps(r),
                                      _mm256_set1_ps(r * gamma[ch]), _mm256_set1_ps(beta[ch])};
                const int64_t off = (int64_t)c * hw;
                channel_dx(xg + off, gsrc + off, dxg + off, dyg + off, ahead, hw, &k, ka, kb);
            }
        }
    }
}
