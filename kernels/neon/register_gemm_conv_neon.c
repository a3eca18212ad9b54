/* register_gemm_conv_neon.c: registers the neon kernels of the gemm_conv family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_gemm_conv_neon(difu_kernels *k)
{
    (void)k;
}
