/* register_norm_neon.c: registers the neon kernels of the norm family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_norm_neon(difu_kernels *k)
{
    (void)k;
}
