/* gemm_driver.h: the blocked, packed GEMM core (kernels/gemm.c) that the GEMM op and the
 * implicit-GEMM convolutions share.
 *
 * C (m x n) = A (m x k) * B (k x n) [+ C] [+ bias per row]. A and B are never read directly: the
 * caller supplies pack callbacks, so an operand may be a matrix, a transposed matrix or a virtual
 * im2col matrix read straight from an image. Columns of C may live in several planes ("images"):
 * column j is (img, a, b) with img = j / (ga*gb), and its address is
 *   c + img*s_img + a*s_a + b*s_b   (row i adds i*ldc).
 * Loop order is BLIS's (NC, KC, MC, NR, MR); the k blocks depend only on k, so each element of C is
 * summed in the same order whatever the split among threads. */
#ifndef DIFU_GEMM_DRIVER_H
#define DIFU_GEMM_DRIVER_H

#include <stdint.h>

#include "kernels.h"

/* Packs rows [i0, i0+rows) x k range [p0, p0+kc) of A into ceil(rows/mr) micro-panels of kc*mr
 * floats, panel q at dst + q*kc*mr, element (i, p) at [p*mr + i % mr]; rows past m are zero. */
typedef void (*difu_pack_a_fn)(const void *ctx, int i0, int rows, int p0, int kc, int mr,
                               float *dst);
/* Packs k range [p0, p0+kc) x columns [j0, j0+cols) of B into ceil(cols/nr) micro-panels of kc*nr
 * floats, element (p, j) at [p*nr + j % nr]; columns past the end are zero. */
typedef void (*difu_pack_b_fn)(const void *ctx, int j0, int cols, int p0, int kc, int nr,
                               float *dst);

typedef struct difu_gemm_out {
    float *c;
    int64_t ldc;              /* row stride */
    int64_t ga, gb;           /* columns per plane = ga*gb, as ga rows of gb */
    int64_t s_img, s_a, s_b;  /* address strides of plane, grid row, grid column */
} difu_gemm_out;

typedef struct difu_gemm_problem {
    int m, n, k;
    difu_pack_a_fn pack_a;
    const void *ctx_a;
    difu_pack_b_fn pack_b;
    const void *ctx_b;
    difu_gemm_out out;
    const float *bias;   /* bias[i] added to row i once; NULL: none */
    int accumulate;      /* 1: C += A*B; 0: C = A*B */
    int k_outer;         /* 1: loop k blocks outermost (A and B each read once when m <= mc;
                          * for a long k and a small C, as in backward-weights) */
} difu_gemm_problem;

/* A plain row-major matrix output: c[i*ldc + j]. */
difu_gemm_out difu_gemm_out_matrix(float *c, int64_t ldc, int n);

/* Computes rows [m0, m1) x columns [n0, n1) of the problem on this thread, with scratch of
 * difu_gemm_scratch_bytes(&k->gemm_ukernel) bytes. m0 and n0 must be multiples of mr and nr. */
void difu_gemm_run(const difu_kernels *k, const difu_gemm_problem *g, int m0, int m1, int n0,
                   int n1, void *scratch);

/* Splits an m x n output among nth threads in whole mr x nr tiles (a grid of tm x tn blocks
 * chosen to balance tiles). Writes thread ith's range; empty when m0 == m1 or n0 == n1. */
void difu_gemm_split(const difu_gemm_ukernel *u, int m, int n, int ith, int nth, int *m0,
                     int *m1, int *n0, int *n1);

#endif /* DIFU_GEMM_DRIVER_H */
