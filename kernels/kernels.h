/* kernels.h: internal kernel signatures and the per-engine dispatch table.
 *
 * Threading contract. A "team kernel" takes (ith, nth): it is called by every thread of a team of
 * nth threads with identical arguments and does the share of thread ith. A team kernel may use
 * `#pragma omp barrier`, so with nth > 1 it must run inside an OpenMP team of exactly nth threads.
 * A "range kernel" takes a count n and works on its slice only; the op layer (engine/ops/) splits
 * the range among threads in fixed chunks so results do not depend on the thread count.
 *
 * `scratch` is this thread's private workspace of k->scratch_per_thread bytes (64-byte aligned).
 * The team's scratch is one block (engine/engine.c difu_thread_scratch): thread j's starts at
 * base + j*scratch_per_thread, so a team kernel may reach the team's shared space at
 * (char *)scratch - ith*k->scratch_per_thread (the Winograd convolutions keep their transformed
 * weights there, in thread 0's part). A kernel that does so must end with a barrier (nth > 1), so
 * no thread reuses its scratch while another still reads it. Callers of team kernels must pass
 * scratch laid out this way.
 *
 * Names follow <op>_<dir>_<isa>. Only engine/dispatch.c chooses between ISAs. This header has no
 * inline functions with external linkage, so it is safe to include from ISA-flagged libraries.
 */
#ifndef DIFU_KERNELS_H
#define DIFU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "difu.h"

typedef struct difu_kernels difu_kernels;

/* ---------------------------------------------------------------- GEMM micro-kernels */

/* Packed-panel micro-kernel: C tile (mr x nr, row stride ldc) = (accumulate ? C : 0) + A_p * B_p,
 * A_p packed k-major (a[p*mr + i]), B_p packed k-major (b[p*nr + j]). Full tiles only; the driver
 * handles edges through a temporary tile. */
typedef void (*difu_gemm_ukernel_fn)(int kc, const float *a, const float *b, float *c, int64_t ldc,
                                     int accumulate);

/* Shifted-pointer convolution micro-kernel (kernels/conv2d_shift.c): for i < mr, j < nv*vl,
 *   c[i*ldc + j] = (accumulate ? c[i*ldc + j] : 0)
 *                  + sum over p < kc of a[i*lda + aoff[p]] * b[boff[p] + j],
 * summed in p order; 1 <= nv <= the kernel's nv_max. B is read in place from a zero-padded slab,
 * A (weights) in place through the offset table. */
typedef void (*difu_conv_shift_fn)(int kc, const float *a, int64_t lda, const int32_t *aoff,
                                   const float *b, const int32_t *boff, int nv, float *c,
                                   int64_t ldc, int accumulate);
/* Dot micro-kernel of the shifted backward-weights: for i < mr, j < nk,
 *   out[i*nk + j] = sum over q < nvec*vl of dy[i][q] * b[boff[j] + q]. */
typedef void (*difu_conv_dot_fn)(int64_t nvec, const float *const *dy, const float *b,
                                 const int32_t *boff, float *out);

typedef struct difu_conv_shift_ukernels {
    difu_conv_shift_fn fn; /* NULL: this ISA has none, the convolutions use implicit GEMM only */
    int mr, vl, nv_max;    /* rows, floats per vector, vectors per tile */
    /* The same contract for one row (i = 0; lda, ldc unused), the same bits as fn's row: a row
     * block with mr/4 valid rows or fewer (a 64 -> 1 output convolution) runs it per row
     * instead of fn over zero rows. NULL: fn. */
    difu_conv_shift_fn fn1;
    difu_conv_dot_fn dot;
    int dot_mr, dot_nk;
} difu_conv_shift_ukernels;

typedef struct difu_gemm_ukernel {
    int mr, nr;
    int mc, kc, nc; /* cache blocks of the packed driver: multiples of mr, -, nr */
    difu_gemm_ukernel_fn fn;
    /* This ISA's im2col B packer (difu_pack_b_taps in kernels/conv2d_pack.h); NULL: generic. */
    void (*pack_b_conv)(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst);
    difu_conv_shift_ukernels shift; /* for 3x3 stride-1 and 1x1 convolutions */
    /* This ISA's Winograd tile transforms (kernels/conv2d_winograd.h); NULL: generic. */
    const struct difu_wino_xforms *wino;
    const char *name; /* e.g. "f32_gemm_6x16_avx2" */
    difu_isa isa;
} difu_gemm_ukernel;

/* ---------------------------------------------------------------- team kernels */

typedef void (*difu_gemm_fn)(const difu_kernels *k, const difu_gemm_desc *d, const float *a,
                             const float *b, float *c, void *scratch, int ith, int nth);

typedef void (*difu_conv2d_fwd_fn)(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *weight, const float *bias,
                                   float *y, void *scratch, int ith, int nth);
/* What a forward convolution may add to its output besides the bias, while the output is still
 * in cache (each NULL when absent): y[i][o][p] += channel[i*cout + o] + residual[i][o][p]
 * (channel: a ResBlock's time embedding [n, cout]; residual: its skip path [n, cout, oh, ow]). */
typedef struct difu_conv_epilogue {
    const float *channel;
    const float *residual;
} difu_conv_epilogue;

typedef void (*difu_conv2d_bwd_data_fn)(const difu_kernels *k, const difu_conv2d_desc *d,
                                        const float *dy, const float *weight, float *dx,
                                        void *scratch, int ith, int nth);
typedef void (*difu_conv2d_bwd_weights_fn)(const difu_kernels *k, const difu_conv2d_desc *d,
                                           const float *x, const float *dy, float *dweight,
                                           float *dbias, void *scratch, int ith, int nth);

typedef void (*difu_groupnorm_fwd_fn)(const difu_groupnorm_desc *d, const float *x,
                                      const float *gamma, const float *beta, float *y, float *mean,
                                      float *rstd, int ith, int nth);
typedef void (*difu_groupnorm_bwd_fn)(const difu_groupnorm_desc *d, const float *x,
                                      const float *gamma, const float *beta, const float *mean,
                                      const float *rstd, const float *dy, float *dx, float *dgamma,
                                      float *dbeta, int ith, int nth);

/* The ISA-generic drivers of the gemm_conv family (kernels/gemm.c, kernels/conv2d_*.c): blocked,
 * packed GEMM and implicit-GEMM convolutions on the table's gemm_ukernel. Every ISA registers these
 * with its own micro-kernel; results do not depend on nth (no cross-thread sums). */
void difu_gemm_packed(const difu_kernels *k, const difu_gemm_desc *d, const float *a,
                      const float *b, float *c, void *scratch, int ith, int nth);
void difu_conv2d_fwd_igemm(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                           const float *weight, const float *bias, float *y, void *scratch,
                           int ith, int nth);
void difu_conv2d_bwd_data_igemm(const difu_kernels *k, const difu_conv2d_desc *d,
                                const float *dy, const float *weight, float *dx, void *scratch,
                                int ith, int nth);
void difu_conv2d_bwd_weights_igemm(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth);
/* Shifted-pointer convolutions (kernels/conv2d_shift.c) for k=3 stride 1 pad 1 and k=1 stride 1
 * pad 0 on the table's gemm_ukernel.shift kernels; they hand other shapes, and shapes whose slab
 * does not fit the scratch, to the implicit-GEMM drivers above. */
void difu_conv2d_fwd_shift(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                           const float *weight, const float *bias, float *y, void *scratch,
                           int ith, int nth);
void difu_conv2d_bwd_data_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                const float *dy, const float *weight, float *dx, void *scratch,
                                int ith, int nth);
void difu_conv2d_bwd_weights_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth);
/* Per-thread scratch bytes the drivers above need with micro-kernel u. */
size_t difu_gemm_scratch_bytes(const difu_gemm_ukernel *u);
/* The table's forward convolution followed by the epilogue ep (kernels/conv2d_epilogue.c): fused
 * into the Winograd output transform where the table's forward is the shifted driver and the
 * shape takes Winograd, else one pass over y after the convolution. A team kernel. wino_u (or
 * NULL): the weights in Winograd form (conv2d_winograd.h), read where the shape takes Winograd. */
void difu_conv2d_fwd_epilogue(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                              const float *weight, const float *wino_u, const float *bias,
                              const difu_conv_epilogue *ep, float *y, void *scratch, int ith,
                              int nth);
/* y += the epilogue, over planes [p0, p1) of y [n, cout, oh, ow] (ohw points each). */
void difu_conv_epilogue_planes(const difu_conv_epilogue *ep, int64_t p0, int64_t p1,
                               int64_t ohw, float *y);
/* y[i] += channel[plane], then += residual[at + i], for i < count: the epilogue on a span of
 * output plane `plane` starting at element `at` of the output (y points there). Every path adds
 * through it or (the AVX2 / AVX-512 Winograd output transforms) makes the same two adds in the
 * same order, so fused and separate adds give the same bits. */
void difu_conv_epilogue_span(const difu_conv_epilogue *ep, int64_t plane, int64_t at,
                             int64_t count, float *y);

/* ---------------------------------------------------------------- range kernels */

/* rows [0, rows) of a rows x cols matrix: y = softmax(scale * x) per row. */
typedef void (*difu_softmax_fwd_fn)(int64_t rows, int cols, float scale, const float *x, float *y);
typedef void (*difu_softmax_bwd_fn)(int64_t rows, int cols, float scale, const float *y,
                                    const float *dy, float *dx);

typedef void (*difu_silu_fwd_fn)(int64_t n, const float *x, float *y);
typedef void (*difu_silu_bwd_fn)(int64_t n, const float *x, const float *dy, float *dx);

/* Philox4x32-10 Gaussian noise, elements [offset, offset + n) of stream `stream` under
 * key (seed, step): block = j / 4, lane = j % 4, counter = {block, stream, step lo, step hi},
 * key = {seed lo, seed hi}; Box-Muller on lane pairs (0,1) and (2,3). */
typedef void (*difu_randn_fn)(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset,
                              int64_t n, float *dst);
/* Test hook: the raw Philox words behind randn, dst[i] = word (j % 4) of block j / 4 for
 * j = offset + i. Registered with randn; not a slot of its own. */
typedef void (*difu_randn_bits_fn)(uint64_t seed, uint64_t step, uint64_t stream, int64_t offset,
                                   int64_t n, uint32_t *dst);

/* Elements [offset, offset + n) of one image: eps = randn(...), xt = a * x0 + b * eps. */
typedef void (*difu_q_sample_fn)(int64_t n, const float *x0, float a, float b, uint64_t seed,
                                 uint64_t step, uint64_t stream, int64_t offset, float *eps,
                                 float *xt);

/* Elements [offset, offset + n) of one image, in place on x (see difu_sampler_step). */
typedef void (*difu_sampler_step_fn)(int64_t n, const difu_sampler_coefs *c, const float *eps,
                                     uint64_t seed, uint64_t step, uint64_t stream, int64_t offset,
                                     float *x);

typedef void (*difu_adam_ema_fn)(int64_t n, const difu_adam_params *p, float *param,
                                 const float *grad, float *m, float *v, float *ema);

/* Sum of squares of one chunk, accumulated in double. */
typedef double (*difu_sumsq_fn)(int64_t n, const float *x);

/* ---------------------------------------------------------------- the table */

struct difu_kernels {
    difu_gemm_ukernel gemm_ukernel;
    difu_gemm_fn gemm;
    difu_conv2d_fwd_fn conv2d_fwd;
    difu_conv2d_bwd_data_fn conv2d_bwd_data;
    difu_conv2d_bwd_weights_fn conv2d_bwd_weights;
    difu_softmax_fwd_fn softmax_fwd;
    difu_softmax_bwd_fn softmax_bwd;
    difu_groupnorm_fwd_fn groupnorm_fwd;
    difu_groupnorm_bwd_fn groupnorm_bwd;
    difu_silu_fwd_fn silu_fwd;
    difu_silu_bwd_fn silu_bwd;
    difu_randn_fn randn;
    difu_randn_bits_fn randn_bits;
    difu_q_sample_fn q_sample;
    difu_sampler_step_fn sampler_step;
    difu_adam_ema_fn adam_ema;
    difu_sumsq_fn sumsq;

    /* What was chosen, per slot (difu_kernel_slot), for difu info and the dispatch tests. */
    const char *names[DIFU_SLOT_COUNT];
    difu_isa isas[DIFU_SLOT_COUNT];

    size_t scratch_per_thread; /* bytes each thread's scratch must hold */
};

/* Registration, called only by engine/dispatch.c. Each kernel family registers itself per ISA:
 * the reference functions fill every slot of their family (setting names[] and isas[]), the ISA
 * ones overwrite the slots they implement. Families: gemm_conv (GEMM, conv2d), norm (GroupNorm,
 * SiLU, softmax), update (randn, q_sample, sampler_step, adam_ema, sumsq). */
void difu_register_gemm_conv_ref(difu_kernels *k);
void difu_register_norm_ref(difu_kernels *k);
void difu_register_update_ref(difu_kernels *k);
#if defined(__x86_64__)
void difu_register_gemm_conv_avx2(difu_kernels *k);
void difu_register_norm_avx2(difu_kernels *k);
void difu_register_update_avx2(difu_kernels *k);
void difu_register_gemm_conv_avx512(difu_kernels *k);
void difu_register_norm_avx512(difu_kernels *k);
void difu_register_update_avx512(difu_kernels *k);
#endif
#if defined(__aarch64__)
void difu_register_gemm_conv_neon(difu_kernels *k);
void difu_register_norm_neon(difu_kernels *k);
void difu_register_update_neon(difu_kernels *k);
#endif

#endif /* DIFU_KERNELS_H */
