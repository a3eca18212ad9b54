/* register_update_neon.c: registers the neon kernels of the update family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_update_neon(difu_kernels *k)
{
    (void)k;
}
