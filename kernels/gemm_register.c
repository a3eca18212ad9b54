/* gemm_register.c: puts the ISA-generic packed GEMM and the shifted / implicit-GEMM convolutions
 * into a kernel table on a given micro-kernel set; each ISA's register_gemm_conv_<isa>.c calls it. */
#include "conv2d_winograd.h"
#include "gemm_conv.h"

void difu_register_gemm_conv_packed(difu_kernels *k, const difu_gemm_ukernel *u)
{
    k->gemm_ukernel = *u;
    k->gemm = difu_gemm_packed;
    /* The shifted drivers hand the shapes they do not cover to the implicit-GEMM ones. */
    k->conv2d_fwd = u->shift.fn ? difu_conv2d_fwd_shift : difu_conv2d_fwd_igemm;
    k->conv2d_bwd_data = u->shift.fn ? difu_conv2d_bwd_data_shift : difu_conv2d_bwd_data_igemm;
    k->conv2d_bwd_weights =
        u->shift.fn ? difu_conv2d_bwd_weights_shift : difu_conv2d_bwd_weights_igemm;
    static const char *const names[DIFU_ISA_COUNT][4] = {
        {"gemm_packed_ref", "conv2d_fwd_igemm_ref", "conv2d_bwd_data_igemm_ref",
         "conv2d_bwd_weights_igemm_ref"},
        {"gemm_avx2", "conv2d_fwd_avx2", "conv2d_bwd_data_avx2", "conv2d_bwd_weights_avx2"},
        {"gemm_avx512", "conv2d_fwd_avx512", "conv2d_bwd_data_avx512",
         "conv2d_bwd_weights_avx512"},
        {"gemm_neon", "conv2d_fwd_neon", "conv2d_bwd_data_neon", "conv2d_bwd_weights_neon"},
    };
    const difu_kernel_slot slots[4] = {DIFU_SLOT_GEMM, DIFU_SLOT_CONV2D_FWD,
                                       DIFU_SLOT_CONV2D_BWD_DATA, DIFU_SLOT_CONV2D_BWD_WEIGHTS};
    for (int i = 0; i < 4; i++) {
        k->names[slots[i]] = names[u->isa][i];
        k->isas[slots[i]] = u->isa;
    }
    size_t need = difu_conv2d_bwd_weights_igemm_scratch_bytes(u);
    size_t shift = difu_conv_shift_scratch_bytes(u);
    if (need < shift)
        need = shift;
    if (u->shift.fn && need < difu_winograd_scratch_bytes(u))
        need = difu_winograd_scratch_bytes(u);
    if (k->scratch_per_thread < need)
        k->scratch_per_thread = need;
}
