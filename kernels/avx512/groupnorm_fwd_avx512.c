/* groupnorm_fwd_avx512.c: GroupNorm forward (optionally fused with SiLU) with AVX-512F.
 *
 * x, y [n, c, hw]; gamma, beta [c]; mean, rstd [n, groups]. Group g of image i is the contiguous
 * block of cpg * hw floats at (i * groups + g) * cpg * hw, cpg = c / groups; any hw >= 1 (row
 * tails use masked loads/stores). Per group: pass 1 sums x to a first mean m0, pass 2 sums
 * d = x - m0 and d^2, so mean = m0 + sum d / N and var = sum d^2 / N - (sum d / N)^2 stay exact
 * for large means; pass 3 writes y = (x - mean) * (rstd * gamma) + beta (then SiLU when fused).
 * A group (at most a few hundred KB) stays in cache across the passes.
 * The loop over groups and the split among threads: groupnorm_fwd_driver.h. */
#include <math.h>

#include "norm_avx512.h"
#include "vmath_avx512.h"

/* The vector type and broadcast of the driver template, included below the kernels. */
typedef __m512 gn_vec;
static inline gn_vec gn_set1(float v)
{
    return _mm512_set1_ps(v);
}

static void group_stats(const float *x, int64_t len, float eps, float *mean, float *rstd)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= len; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    for (; i + 16 <= len; i += 16)
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    if (i < len)
        a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(difu_tail_mask_avx512((int)(len - i)), x + i));
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    const float m0 = (float)((double)_mm512_reduce_add_ps(sum) / (double)len);
    const __m512 vm = _mm512_set1_ps(m0);
    __m512 s1a = _mm512_setzero_ps(), s1b = s1a, s1c = s1a, s1d = s1a;
    __m512 s2a = s1a, s2b = s1a, s2c = s1a, s2d = s1a;
    for (i = 0; i + 64 <= len; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm);
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm);
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 32), vm);
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 48), vm);
        s1a = _mm512_add_ps(s1a, d0);
        s1b = _mm512_add_ps(s1b, d1);
        s1c = _mm512_add_ps(s1c, d2);
        s1d = _mm512_add_ps(s1d, d3);
        s2a = _mm512_fmadd_ps(d0, d0, s2a);
        s2b = _mm512_fmadd_ps(d1, d1, s2b);
        s2c = _mm512_fmadd_ps(d2, d2, s2c);
        s2d = _mm512_fmadd_ps(d3, d3, s2d);
    }
    for (; i < len; i += 16) {
        __mmask16 m = difu_tail_mask_avx512(len - i < 16 ? (int)(len - i) : 16);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vm);
        s1a = _mm512_add_ps(s1a, d);
        s2a = _mm512_fmadd_ps(d, d, s2a);
    }
    const __m512 s1 = _mm512_add_ps(_mm512_add_ps(s1a, s1b), _mm512_add_ps(s1c, s1d));
    const __m512 s2 = _mm512_add_ps(_mm512_add_ps(s2a, s2b), _mm512_add_ps(s2c, s2d));
    const double dm = (double)_mm512_reduce_add_ps(s1) / (double)len;
    double var = (double)_mm512_reduce_add_ps(s2) / (double)len - dm * dm;
    if (var < 0)
        var = 0;
    *mean = (float)((double)m0 + dm);
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
}

/* y = (x - mean) * a + b over hw floats, then SiLU when fuse. Prefetches x + ahead (the same
 * place in the next group) so its first pass finds it in cache. */
static void norm_channel(const float *x, float *y, int hw, int64_t ahead, __m512 vm, __m512 va,
                         __m512 vb, int fuse)
{
    int j = 0;
    if (fuse) {
        for (; j + 16 <= hw; j += 16) {
            _mm_prefetch((const char *)(x + j + ahead), _MM_HINT_T0);
            __m512 h = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), va, vb);
            _mm512_storeu_ps(y + j, difu_silu_avx512(h));
        }
    } else {
        for (; j + 16 <= hw; j += 16) {
            _mm_prefetch((const char *)(x + j + ahead), _MM_HINT_T0);
            _mm512_storeu_ps(y + j,
                             _mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), va, vb));
        }
    }
    if (j < hw) {
        __mmask16 m = difu_tail_mask_avx512(hw - j);
        __m512 h = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm), va, vb);
        _mm512_mask_storeu_ps(y + j, m, fuse ? difu_silu_avx512(h) : h);
    }
}

#include "groupnorm_fwd_driver.h"

void groupnorm_fwd_avx512(const difu_groupnorm_desc *d, const float *x, const float *gamma,
                          const float *beta, float *y, float *mean, float *rstd, int ith, int nth)
{
    groupnorm_fwd_drive(d, x, gamma, beta, y, mean, rstd, ith, nth);
}
