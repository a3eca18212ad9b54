/* wino_cache.h: a model's forward 3x3 weights kept in Winograd form between forwards (internal;
 * wino_cache.c). Sampling runs the same weights 50 to 1000 times; without the cache every
 * forward transforms all of them again, on every thread that runs a part of the batch. */
#ifndef DIFU_WINO_CACHE_H
#define DIFU_WINO_CACHE_H

#include <stdint.h>

#include "graph.h"

typedef struct difu_wino_entry {
    size_t param_offset; /* the weight's bytes into the parameter block */
    int cin, cout, tile; /* tile: the Winograd tile its convolution's image takes */
    uint64_t key[2]; /* XXH3-128 of the weights u was made from */
    int valid;
    float *u;
} difu_wino_entry;

typedef struct difu_wino_cache {
    difu_wino_entry *entries;
    int count;      /* -1: not yet collected */
    difu_arena arena; /* every entry's u */
} difu_wino_cache;

void difu_wino_cache_init(difu_wino_cache *c);
void difu_wino_cache_free(difu_wino_cache *c);

/* Before a forward run of plans[0..count) (the whole batch, or its parts) over the parameter
 * block `params`: the first call collects the weights of plans[0]'s native Winograd convolutions
 * (fixed from then on); a plan seen for the first time gets p->wino_u pointed at them; then every
 * entry's weights are hashed (XXH3-128) and the ones that changed since their transform (a
 * training step, a loaded checkpoint, EMA weights swapped in) are transformed again, on all
 * threads. So the cache never serves stale weights, and a forward gives the same bits with it as
 * without. */
difu_status difu_wino_cache_prepare(difu_engine *e, difu_wino_cache *c, difu_plan *const *plans,
                                    int count, const float *params);

#endif /* DIFU_WINO_CACHE_H */
