/* register_gemm_conv_ref.c: the reference kernels of the gemm_conv family: the plain GEMM, the
 * direct-loop convolutions, and the plain-C micro-kernels (4x8 GEMM, 4x2v/2x3 shifted conv) that
 * the ISA-generic drivers can run on, for tests. */
#include "conv2d_winograd.h"
#include "gemm_conv.h"

void difu_register_gemm_conv_ref(difu_kernels *k)
{
    const difu_gemm_ukernel u = {.mr = 4, .nr = 8, .mc = 64, .kc = 128, .nc = 256,
                                 .fn = f32_gemm_4x8_ref, .name = "f32_gemm_4x8_ref",
                                 .shift = {.fn = f32_conv_shift_4x2v_ref, .mr = 4, .vl = 4,
                                           .nv_max = 2, .dot = f32_conv_dot_2x3_ref,
                                           .dot_mr = 2, .dot_nk = 3},
                                 .isa = DIFU_ISA_REF};
    k->gemm_ukernel = u;
    k->gemm = gemm_ref;
    k->conv2d_fwd = conv2d_fwd_ref;
    k->conv2d_bwd_data = conv2d_bwd_data_ref;
    k->conv2d_bwd_weights = conv2d_bwd_weights_ref;
    k->names[DIFU_SLOT_GEMM] = "gemm_ref";
    k->names[DIFU_SLOT_CONV2D_FWD] = "conv2d_fwd_ref";
    k->names[DIFU_SLOT_CONV2D_BWD_DATA] = "conv2d_bwd_data_ref";
    k->names[DIFU_SLOT_CONV2D_BWD_WEIGHTS] = "conv2d_bwd_weights_ref";
    for (int s = DIFU_SLOT_GEMM; s <= DIFU_SLOT_CONV2D_BWD_WEIGHTS; s++)
        k->isas[s] = DIFU_ISA_REF;
    size_t need = difu_conv2d_bwd_weights_igemm_scratch_bytes(&u);
    size_t shift = difu_conv_shift_scratch_bytes(&u);
    if (need < shift)
        need = shift;
    /* the generic drivers may run on this table's micro-kernels (tests) */
    if (need < difu_winograd_scratch_bytes(&u))
        need = difu_winograd_scratch_bytes(&u);
    if (k->scratch_per_thread < need)
        k->scratch_per_thread = need;
}
