/* register_update_avx512.c: registers the avx512 kernels of the update family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_update_avx512(difu_kernels *k)
{
    (void)k;
}
