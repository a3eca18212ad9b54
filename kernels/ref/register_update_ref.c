/* register_update_ref.c: registers the ref kernels of the update family in the dispatch table.
 * PLACEHOLDER: registers nothing yet; the family's kernels replace it. */
#include "kernels.h"

void difu_register_update_ref(difu_kernels *k)
{
    (void)k;
}
