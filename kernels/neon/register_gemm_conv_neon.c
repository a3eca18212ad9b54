/* register_gemm_conv_neon.c: the neon kernels of the gemm_conv family: the packed GEMM and the
 * implicit-GEMM convolutions (ISA-generic drivers) on the 8x12 neon micro-kernel. */
#include "gemm_conv.h"

void difu_register_gemm_conv_neon(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 8, .nr = 12, .mc = 128, .kc = 256, .nc = 516,
                                 .fn = f32_gemm_8x12_neon, .name = "f32_gemm_8x12_neon",
                                 .isa = DIFU_ISA_NEON};
    difu_register_gemm_conv_packed(k, &u);
}
