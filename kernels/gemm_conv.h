/* gemm_conv.h: the kernels of the gemm_conv family, for its register_gemm_conv_<isa>.c files.
 * Micro-kernels follow difu_gemm_ukernel_fn (kernels.h); the rest are team kernels. */
#ifndef DIFU_GEMM_CONV_H
#define DIFU_GEMM_CONV_H

#include "kernels.h"

/* kernels/ref */
void gemm_ref(const difu_kernels *k, const difu_gemm_desc *d, const float *a, const float *b,
              float *c, void *scratch, int ith, int nth);
void f32_gemm_4x8_ref(int kc, const float *a, const float *b, float *c, int64_t ldc,
                      int accumulate);
void conv2d_fwd_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                    const float *weight, const float *bias, float *y, void *scratch, int ith,
                    int nth);
void conv2d_bwd_data_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *dy,
                         const float *weight, float *dx, void *scratch, int ith, int nth);
void conv2d_bwd_weights_ref(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                            const float *dy, float *dweight, float *dbias, void *scratch, int ith,
                            int nth);

/* kernels/avx2, kernels/avx512, kernels/neon */
void f32_gemm_6x16_avx2(int kc, const float *a, const float *b, float *c, int64_t ldc,
                        int accumulate);
void f32_gemm_8x32_avx512(int kc, const float *a, const float *b, float *c, int64_t ldc,
                          int accumulate);
void f32_gemm_8x12_neon(int kc, const float *a, const float *b, float *c, int64_t ldc,
                        int accumulate);

/* The im2col B packers (difu_pack_b_taps of conv2d_pack.h) built with each ISA's flags. */
void difu_pack_b_taps_avx2(const void *ctx, int j0, int cols, int p0, int kc, int nr, float *dst);
void difu_pack_b_taps_avx512(const void *ctx, int j0, int cols, int p0, int kc, int nr,
                             float *dst);

/* The shifted-pointer convolution micro-kernels (difu_conv_shift_fn, difu_conv_dot_fn). */
void f32_conv_shift_4x2v_ref(int kc, const float *a, int64_t lda, const int32_t *aoff,
                             const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                             int accumulate);
void f32_conv_dot_2x3_ref(int64_t nvec, const float *const *dy, const float *b,
                          const int32_t *boff, float *out);
void f32_conv_shift_4x3v_avx2(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                             int accumulate);
void f32_conv_shift_1x3v_avx2(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate);
void f32_conv_dot_4x3_avx2(int64_t nvec, const float *const *dy, const float *b,
                           const int32_t *boff, float *out);
void f32_conv_shift_8x3v_avx512(int kc, const float *a, int64_t lda, const int32_t *aoff,
                                const float *b, const int32_t *boff, int nv, float *c,
                                int64_t ldc, int accumulate);
void f32_conv_shift_1x3v_avx512(int kc, const float *a, int64_t lda, const int32_t *aoff,
                                const float *b, const int32_t *boff, int nv, float *c,
                                int64_t ldc, int accumulate);
void f32_conv_dot_4x6_avx512(int64_t nvec, const float *const *dy, const float *b,
                             const int32_t *boff, float *out);
void f32_conv_shift_8x3v_neon(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                             int accumulate);
void f32_conv_shift_1x3v_neon(int kc, const float *a, int64_t lda, const int32_t *aoff,
                              const float *b, const int32_t *boff, int nv, float *c, int64_t ldc,
                              int accumulate);
void f32_conv_dot_4x6_neon(int64_t nvec, const float *const *dy, const float *b,
                           const int32_t *boff, float *out);
/* dbias [cout] = the sum of dy [n, cout, npix] over images and points; threads split the
 * channels (team kernel contract). */
void difu_conv2d_bias_grad(const float *dy, int n, int cout, int64_t npix, float *dbias, int ith,
                           int nth);
/* The batch halves of small backward-weights (kernels/batch_halves.c). difu_half_team: 1 when
 * thread ith of nth works on half `half` (0 or 1), with its rank and count in that half's team.
 * difu_add_second_half: after a barrier, dweight[i] += second[i] for this thread's share of n;
 * the caller must not let thread 0's scratch (which holds `second`) be reused before every
 * thread is done (a barrier). */
int difu_half_team(int half, int ith, int nth, int *sub_ith, int *sub_nth);
void difu_add_second_half(float *dweight, const float *second, int64_t n, int ith, int nth);
/* Per-thread scratch bytes of difu_conv2d_bwd_weights_igemm with u (its packing space and, in
 * thread 0's, one partial dweight). */
size_t difu_conv2d_bwd_weights_igemm_scratch_bytes(const difu_gemm_ukernel *u);
/* Per-thread scratch bytes of the shifted convolutions with u (0 when u has no shift kernels). */
size_t difu_conv_shift_scratch_bytes(const difu_gemm_ukernel *u);

/* Registers the packed GEMM and the implicit-GEMM convolutions on micro-kernel u, with slot
 * names "<op>_<suffix>" (e.g. "conv2d_fwd_avx2"), and raises the scratch to what they need. */
void difu_register_gemm_conv_packed(difu_kernels *k, const difu_gemm_ukernel *u);

#endif /* DIFU_GEMM_CONV_H */
