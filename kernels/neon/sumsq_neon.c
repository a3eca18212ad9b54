/* sumsq_neon.c: sum of squares of x[0..n) in double: 8 floats per step into 4 accumulators of
 * 2 doubles, combined in a fixed order (deterministic; reassociated against sumsq_ref). */
#include <arm_neon.h>

#include "update_neon.h"

double sumsq_neon(int64_t n, const float *x)
{
    float64x2_t acc[4] = {vdupq_n_f64(0), vdupq_n_f64(0), vdupq_n_f64(0), vdupq_n_f64(0)};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        float64x2_t d0 = vcvt_f64_f32(vget_low_f32(a)), d1 = vcvt_high_f64_f32(a);
        float64x2_t d2 = vcvt_f64_f32(vget_low_f32(b)), d3 = vcvt_high_f64_f32(b);
        acc[0] = vfmaq_f64(acc[0], d0, d0);
        acc[1] = vfmaq_f64(acc[1], d1, d1);
        acc[2] = vfmaq_f64(acc[2], d2, d2);
        acc[3] = vfmaq_f64(acc[3], d3, d3);
    }
    float64x2_t s = vaddq_f64(vaddq_f64(acc[0], acc[1]), vaddq_f64(acc[2], acc[3]));
    double total = vgetq_lane_f64(s, 0) + vgetq_lane_f64(s, 1);
    for (; i < n; i++)
        total += (double)x[i] * (double)x[i];
    return total;
}
