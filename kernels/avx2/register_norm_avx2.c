/* register_norm_avx2.c: registers the avx2 kernels of the norm family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_norm_avx2(difu_kernels *k)
{
    (void)k;
}
