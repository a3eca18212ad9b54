/* softmax_avx512.c: row softmax forward and backward with AVX-512F.
 * Range kernels over rows of a rows x cols row-major matrix (any cols >= 1; the row tail uses
 * masked loads/stores):
 *   y = exp(scale * x - max(scale * x)) / sum(...);  dx = scale * y * (dy - sum(dy * y)).
 * In-place (y == x, dx == dy) is allowed. */
#include <math.h>

#include "norm_avx512.h"
#include "vmath_avx512.h"

static void softmax_row(int cols, float scale, const float *x, float *y)
{
    const __m512 vs = _mm512_set1_ps(scale);
    const int full = cols & ~15, rem = cols - full;
    const __mmask16 tail = difu_tail_mask_avx512(rem);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < full; j += 16)
        vmax = _mm512_max_ps(vmax, _mm512_mul_ps(_mm512_loadu_ps(x + j), vs));
    if (rem)
        vmax = _mm512_mask_max_ps(vmax, tail, vmax,
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), vs));
    const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int j = 0; j < full; j += 16) {
        __m512 e = difu_exp_avx512(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), vs), vm));
        _mm512_storeu_ps(y + j, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    __m512 etail = _mm512_setzero_ps();
    if (rem) {
        __m512 v = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), vs), vm);
        etail = _mm512_maskz_mov_ps(tail, difu_exp_avx512(v));
        vsum = _mm512_add_ps(vsum, etail);
    }
    const __m512 vinv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int j = 0; j < full; j += 16)
        _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), vinv));
    if (rem)
        _mm512_mask_storeu_ps(y + full, tail, _mm512_mul_ps(etail, vinv));
}

void softmax_fwd_avx512(int64_t rows, int cols, float scale, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++)
        softmax_row(cols, scale, x + r * cols, y + r * cols);
}

void softmax_bwd_avx512(int64_t rows, int cols, float scale, const float *y, const float *dy,
                        float *dx)
{
    const int full = cols & ~15, rem = cols - full;
    const __mmask16 tail = difu_tail_mask_avx512(rem);
    const __m512 vs = _mm512_set1_ps(scale);
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < full; j += 16)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(dyr + j), _mm512_loadu_ps(yr + j), acc);
        if (rem)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, dyr + full),
                                  _mm512_maskz_loadu_ps(tail, yr + full), acc);
        const __m512 vdot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
        for (int j = 0; j < full; j += 16) {
            __m512 sy = _mm512_mul_ps(_mm512_loadu_ps(yr + j), vs);
            _mm512_storeu_ps(dxr + j,
                             _mm512_mul_ps(sy, _mm512_sub_ps(_mm512_loadu_ps(dyr + j), vdot)));
        }
        if (rem) {
            __m512 sy = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, yr + full), vs);
            __m512 g =
                _mm512_mul_ps(sy, _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, dyr + full), vdot));
            _mm512_mask_storeu_ps(dxr + full, tail, g);
        }
    }
}
