/* softmax_avx2.c: row softmax forward and backward with AVX2+FMA.
 * Range kernels over rows of a rows x cols row-major matrix (any cols >= 1; the row tail uses
 * masked loads/stores):
 *   y = exp(scale * x - max(scale * x)) / sum(...);  dx = scale * y * (dy - sum(dy * y)).
 * In-place (y == x, dx == dy) is allowed. */
#include <math.h>

#include "norm_avx2.h"
#include "vmath_avx2.h"

static void softmax_row(int cols, float scale, const float *x, float *y)
{
    const __m256 vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    const int full = cols & ~7, rem = cols - full;
    const __m256i tail = difu_tail_mask_avx2(rem);
    __m256 vmax = ninf;
    for (int j = 0; j < full; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_mul_ps(_mm256_loadu_ps(x + j), vs));
    if (rem) {
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + full, tail), vs);
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(tail)));
    }
    const __m256 vm = _mm256_set1_ps(difu_hmax_avx2(vmax));
    __m256 vsum = _mm256_setzero_ps();
    for (int j = 0; j < full; j += 8) {
        __m256 e = difu_exp_avx2(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), vs), vm));
        _mm256_storeu_ps(y + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    __m256 etail = _mm256_setzero_ps();
    if (rem) {
        __m256 e =
            difu_exp_avx2(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(x + full, tail), vs), vm));
        etail = _mm256_and_ps(e, _mm256_castsi256_ps(tail));
        vsum = _mm256_add_ps(vsum, etail);
    }
    const __m256 vinv = _mm256_set1_ps(1.0f / difu_hsum_avx2(vsum));
    for (int j = 0; j < full; j += 8)
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), vinv));
    if (rem)
        _mm256_maskstore_ps(y + full, tail, _mm256_mul_ps(etail, vinv));
}

void softmax_fwd_avx2(int64_t rows, int cols, float scale, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++)
        softmax_row(cols, scale, x + r * cols, y + r * cols);
}

void softmax_bwd_avx2(int64_t rows, int cols, float scale, const float *y, const float *dy,
                      float *dx)
{
    const int full = cols & ~7, rem = cols - full;
    const __m256i tail = difu_tail_mask_avx2(rem);
    const __m256 vs = _mm256_set1_ps(scale);
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < full; j += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(dyr + j), _mm256_loadu_ps(yr + j), acc);
        if (rem)
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(dyr + full, tail),
                                  _mm256_maskload_ps(yr + full, tail), acc);
        const __m256 vdot = _mm256_set1_ps(difu_hsum_avx2(acc));
        for (int j = 0; j < full; j += 8) {
            __m256 sy = _mm256_mul_ps(_mm256_loadu_ps(yr + j), vs);
            _mm256_storeu_ps(dxr + j,
                             _mm256_mul_ps(sy, _mm256_sub_ps(_mm256_loadu_ps(dyr + j), vdot)));
        }
        if (rem) {
            __m256 sy = _mm256_mul_ps(_mm256_maskload_ps(yr + full, tail), vs);
            __m256 g = _mm256_mul_ps(sy, _mm256_sub_ps(_mm256_maskload_ps(dyr + full, tail), vdot));
            _mm256_maskstore_ps(dxr + full, tail, g);
        }
    }
}
