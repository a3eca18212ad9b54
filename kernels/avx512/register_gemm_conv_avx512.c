/* register_gemm_conv_avx512.c: the avx512 kernels of the gemm_conv family: the packed GEMM and the
 * convolutions (ISA-generic drivers) on the 8x32 GEMM and the 8x3v/4x6 shifted-conv
 * micro-kernels. */
#include "conv2d_winograd.h"
#include "gemm_conv.h"

void difu_register_gemm_conv_avx512(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 8, .nr = 32, .mc = 128, .kc = 384, .nc = 256,
                                 .fn = f32_gemm_8x32_avx512, .name = "f32_gemm_8x32_avx512",
                                 .pack_b_conv = difu_pack_b_taps_avx512,
                                 .shift = {.fn = f32_conv_shift_8x3v_avx512, .mr = 8, .vl = 16,
                                           .nv_max = 3, .fn1 = f32_conv_shift_1x3v_avx512,
                                           .dot = f32_conv_dot_4x6_avx512, .dot_mr = 4,
                                           .dot_nk = 6},
                                 .wino = &difu_wino_xforms_avx512,
                                 .isa = DIFU_ISA_AVX512};
    difu_register_gemm_conv_packed(k, &u);
}
