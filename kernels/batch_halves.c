/* batch_halves.c: the two-halves scheme of the backward-weights kernels (kernels/gemm_conv.h):
 * the batch is cut in two fixed halves whose partial sums are computed apart, the first into
 * dweight, the second into a buffer in thread 0's scratch, then added. Threads [0, nth/2) take
 * the first half and the rest the second; a lone thread takes both. Every element is summed in
 * an order fixed by the shape and the halves are added in one order, so the bits do not depend on
 * nth. */
#include "gemm_conv.h"

int difu_half_team(int half, int ith, int nth, int *sub_ith, int *sub_nth)
{
    int t0 = nth * half / 2, t1 = nth * (half + 1) / 2;
    if (t0 == t1)
        t1 = t0 + 1;
    if (ith < t0 || ith >= t1)
        return 0;
    *sub_ith = ith - t0;
    *sub_nth = t1 - t0;
    return 1;
}

void difu_add_second_half(float *dweight, const float *second, int64_t n, int ith, int nth)
{
    if (nth > 1) {
#pragma omp barrier
    }
    for (int64_t i = n * ith / nth; i < n * (ith + 1) / nth; i++)
        dweight[i] += second[i];
}
