/* register_gemm_conv_avx2.c: the avx2 kernels of the gemm_conv family: the packed GEMM and the
 * convolutions (ISA-generic drivers) on the 6x16 GEMM and the 4x3v/4x3 shifted-conv
 * micro-kernels. */
#include "conv2d_winograd.h"
#include "gemm_conv.h"

void difu_register_gemm_conv_avx2(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 6, .nr = 16, .mc = 132, .kc = 384, .nc = 256,
                                 .fn = f32_gemm_6x16_avx2, .name = "f32_gemm_6x16_avx2",
                                 .pack_b_conv = difu_pack_b_taps_avx2,
                                 .shift = {.fn = f32_conv_shift_4x3v_avx2, .mr = 4, .vl = 8,
                                           .nv_max = 3, .fn1 = f32_conv_shift_1x3v_avx2,
                                           .dot = f32_conv_dot_4x3_avx2, .dot_mr = 4,
                                           .dot_nk = 3},
                                 .wino = &difu_wino_xforms_avx2,
                                 .isa = DIFU_ISA_AVX2};
    difu_register_gemm_conv_packed(k, &u);
}
