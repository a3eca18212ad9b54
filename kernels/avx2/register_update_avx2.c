/* register_update_avx2.c: registers the avx2 kernels of the update family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_update_avx2(difu_kernels *k)
{
    (void)k;
}
