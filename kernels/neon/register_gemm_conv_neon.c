/* register_gemm_conv_neon.c: the neon kernels of the gemm_conv family: the packed GEMM and the
 * convolutions (ISA-generic drivers) on the 8x12 GEMM and the 8x3v/4x6 shifted-conv
 * micro-kernels. */
#include "gemm_conv.h"

void difu_register_gemm_conv_neon(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 8, .nr = 12, .mc = 128, .kc = 256, .nc = 516,
                                 .fn = f32_gemm_8x12_neon, .name = "f32_gemm_8x12_neon",
                                 .shift = {.fn = f32_conv_shift_8x3v_neon, .mr = 8, .vl = 4,
                                           .nv_max = 3, .fn1 = f32_conv_shift_1x3v_neon,
                                           .dot = f32_conv_dot_4x6_neon, .dot_mr = 4,
                                           .dot_nk = 6},
                                 .isa = DIFU_ISA_NEON};
    difu_register_gemm_conv_packed(k, &u);
}
