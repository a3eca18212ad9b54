/* register_norm_avx512.c: registers the avx512 kernels of the norm family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_norm_avx512(difu_kernels *k)
{
    (void)k;
}
