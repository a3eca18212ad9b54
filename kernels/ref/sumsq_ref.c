/* sumsq_ref.c: reference sum of squares of x[0..n), accumulated in double, left to right. */
#include "update_ref.h"

double sumsq_ref(int64_t n, const float *x)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}
