/* sampler_step_avx512.c: one reverse step on one image's elements [offset, offset + n) of x, in
 * place, 16 lanes at a time, as difu_sampler_elem (update_ref.h); with sigma != 0 the noise is
 * drawn 64 elements at a time in registers. Partial vectors use the scalar formula (same bits). */
#include "philox_avx512.h"
#include "ref/update_ref.h"
#include "update_avx512.h"

typedef struct sampler_vcoefs {
    __m512 cxt, ceps, neg_sab, s1mab, cx0, cxt2, cdir, lo, hi;
    int clip;
} sampler_vcoefs;

static sampler_vcoefs vcoefs(const difu_sampler_coefs *c)
{
    sampler_vcoefs v;
    v.cxt = _mm512_set1_ps(c->c_x0_xt);
    v.ceps = _mm512_set1_ps(c->c_x0_eps);
    v.neg_sab = _mm512_set1_ps(-c->sqrt_ab);
    v.s1mab = _mm512_set1_ps(c->sqrt_1mab);
    v.cx0 = _mm512_set1_ps(c->c_x0);
    v.cxt2 = _mm512_set1_ps(c->c_xt);
    v.cdir = _mm512_set1_ps(c->c_dir);
    v.lo = _mm512_set1_ps(-1.0f);
    v.hi = _mm512_set1_ps(1.0f);
    v.clip = c->clip_x0;
    return v;
}

static inline __m512 sampler_vec(const sampler_vcoefs *v, __m512 x, __m512 e)
{
    __m512 x0 = _mm512_fmsub_ps(v->cxt, x, _mm512_mul_ps(v->ceps, e));
    __m512 dir = e;
    if (v->clip) {
        x0 = _mm512_min_ps(v->hi, _mm512_max_ps(v->lo, x0)); /* NaN passes, as difu_clamp1 */
        dir = _mm512_div_ps(_mm512_fmadd_ps(v->neg_sab, x0, x), v->s1mab);
    }
    __m512 acc = _mm512_mul_ps(v->cx0, x0);
    acc = _mm512_fmadd_ps(v->cxt2, x, acc);
    return _mm512_fmadd_ps(v->cdir, dir, acc);
}

void sampler_step_avx512(int64_t n, const difu_sampler_coefs *c, const float *eps, uint64_t seed,
                         uint64_t step, uint64_t stream, int64_t offset, float *x)
{
    const sampler_vcoefs v = vcoefs(c);
    if (c->sigma == 0.0f) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(x + i,
                             sampler_vec(&v, _mm512_loadu_ps(x + i), _mm512_loadu_ps(eps + i)));
        for (; i < n; i++)
            x[i] = difu_sampler_elem(c, x[i], eps[i]);
        return;
    }
    const __m512 sigma = _mm512_set1_ps(c->sigma);
    int64_t j = offset, end = offset + n;
    while (j < end) {
        int64_t base = j & ~(int64_t)3;
        __m512 z[4];
        difu_randn64_avx512(seed, step, (uint32_t)stream, (uint32_t)(base >> 2), z);
        int64_t i = j - offset;
        if (base == j && end - j >= DIFU_AVX512_GROUP) {
            for (int g = 0; g < 4; g++) {
                __m512 r = sampler_vec(&v, _mm512_loadu_ps(x + i + 16 * g),
                                       _mm512_loadu_ps(eps + i + 16 * g));
                _mm512_storeu_ps(x + i + 16 * g, _mm512_fmadd_ps(sigma, z[g], r));
            }
            j += DIFU_AVX512_GROUP;
            continue;
        }
        float buf[DIFU_AVX512_GROUP];
        for (int g = 0; g < 4; g++)
            _mm512_storeu_ps(buf + 16 * g, z[g]);
        int64_t stop = base + DIFU_AVX512_GROUP < end ? base + DIFU_AVX512_GROUP : end;
        for (; j < stop; j++) {
            int64_t k = j - offset;
            x[k] = fmaf(c->sigma, buf[j - base], difu_sampler_elem(c, x[k], eps[k]));
        }
    }
}
