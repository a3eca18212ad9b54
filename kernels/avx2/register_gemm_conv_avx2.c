/* register_gemm_conv_avx2.c: the avx2 kernels of the gemm_conv family: the packed GEMM and the
 * implicit-GEMM convolutions (ISA-generic drivers) on the 6x16 avx2 micro-kernel. */
#include "gemm_conv.h"

void difu_register_gemm_conv_avx2(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 6, .nr = 16, .mc = 132, .kc = 384, .nc = 256,
                                 .fn = f32_gemm_6x16_avx2, .name = "f32_gemm_6x16_avx2",
                                 .pack_b_conv = difu_pack_b_taps_avx2,
                                 .isa = DIFU_ISA_AVX2};
    difu_register_gemm_conv_packed(k, &u);
}
