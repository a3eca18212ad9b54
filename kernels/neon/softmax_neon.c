/* softmax_neon.c: row softmax forward and backward with aarch64 Advanced SIMD.
 * Range kernels over rows of a rows x cols row-major matrix (any cols >= 1; the row tail goes
 * through partial loads/stores):
 *   y = exp(scale * x - max(scale * x)) / sum(...);  dx = scale * y * (dy - sum(dy * y)).
 * In-place (y == x, dx == dy) is allowed. */
#include <math.h>

#include "norm_neon.h"
#include "vmath_neon.h"

static void softmax_row(int cols, float scale, const float *x, float *y)
{
    const int full = cols & ~3, rem = cols - full;
    float32x4_t vmax = vdupq_n_f32(-INFINITY);
    for (int j = 0; j < full; j += 4)
        vmax = vmaxq_f32(vmax, vmulq_n_f32(vld1q_f32(x + j), scale));
    float32x4_t xtail = vdupq_n_f32(0.0f);
    if (rem) {
        xtail = vmulq_n_f32(difu_load_tail_neon(x + full, rem, 0.0f), scale);
        vmax = vmaxq_f32(vmax, difu_keep_lanes_neon(xtail, rem, -INFINITY));
    }
    const float32x4_t vm = vdupq_n_f32(vmaxvq_f32(vmax));
    float32x4_t vsum = vdupq_n_f32(0.0f);
    for (int j = 0; j < full; j += 4) {
        float32x4_t e = difu_exp_neon(vsubq_f32(vmulq_n_f32(vld1q_f32(x + j), scale), vm));
        vst1q_f32(y + j, e);
        vsum = vaddq_f32(vsum, e);
    }
    float32x4_t etail = vdupq_n_f32(0.0f);
    if (rem) {
        etail = difu_keep_lanes_neon(difu_exp_neon(vsubq_f32(xtail, vm)), rem, 0.0f);
        vsum = vaddq_f32(vsum, etail);
    }
    const float inv = 1.0f / vaddvq_f32(vsum);
    for (int j = 0; j < full; j += 4)
        vst1q_f32(y + j, vmulq_n_f32(vld1q_f32(y + j), inv));
    if (rem)
        difu_store_tail_neon(y + full, vmulq_n_f32(etail, inv), rem);
}

void softmax_fwd_neon(int64_t rows, int cols, float scale, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++)
        softmax_row(cols, scale, x + r * cols, y + r * cols);
}

void softmax_bwd_neon(int64_t rows, int cols, float scale, const float *y, const float *dy,
                      float *dx)
{
    const int full = cols & ~3, rem = cols - full;
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int j = 0; j < full; j += 4)
            acc = vfmaq_f32(acc, vld1q_f32(dyr + j), vld1q_f32(yr + j));
        if (rem)
            acc = vfmaq_f32(acc, difu_load_tail_neon(dyr + full, rem, 0.0f),
                            difu_load_tail_neon(yr + full, rem, 0.0f));
        const float32x4_t vdot = vdupq_n_f32(vaddvq_f32(acc));
        for (int j = 0; j < full; j += 4) {
            float32x4_t sy = vmulq_n_f32(vld1q_f32(yr + j), scale);
            vst1q_f32(dxr + j, vmulq_f32(sy, vsubq_f32(vld1q_f32(dyr + j), vdot)));
        }
        if (rem) {
            float32x4_t sy = vmulq_n_f32(difu_load_tail_neon(yr + full, rem, 0.0f), scale);
            float32x4_t g =
                vmulq_f32(sy, vsubq_f32(difu_load_tail_neon(dyr + full, rem, 0.0f), vdot));
            difu_store_tail_neon(dxr + full, g, rem);
        }
    }
}
