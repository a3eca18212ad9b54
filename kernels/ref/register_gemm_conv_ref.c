/* register_gemm_conv_ref.c: registers the ref kernels of the gemm_conv family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_gemm_conv_ref(difu_kernels *k)
{
    (void)k;
}
