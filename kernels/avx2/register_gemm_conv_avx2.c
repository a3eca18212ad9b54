/* register_gemm_conv_avx2.c: registers the avx2 kernels of the gemm_conv family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_gemm_conv_avx2(difu_kernels *k)
{
    (void)k;
}
