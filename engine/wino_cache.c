/* wino_cache.c: the forward's 3x3 weights in Winograd form, kept between forwards and checked
 * against an XXH3-128 of the weights before every forward (wino_cache.h). */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "conv2d_winograd.h"
#include "conv_choice.h"
#include "engine_internal.h"
#include "wino_cache.h"

void difu_wino_cache_init(difu_wino_cache *c)
{
    memset(c, 0, sizeof *c);
    c->count = -1;
}

void difu_wino_cache_free(difu_wino_cache *c)
{
    free(c->entries);
    difu_arena_free(&c->arena);
    difu_wino_cache_init(c);
}

/* The weight tensor of forward node i when it is a native convolution that takes Winograd with
 * the engine's kernels, and the tile its image takes; else -1. */
static int winograd_weight(const difu_engine *e, const difu_plan *p, int i, int *tile)
{
    const difu_node *n = &p->g->nodes[i];
    difu_conv_problem pr;
    if (n->op != DIFU_OP_CONV2D || p->onednn[i] || e->kernels.conv2d_fwd != difu_conv2d_fwd_shift ||
        p->g->tensors[n->src[1]].kind != DIFU_T_PARAM || !difu_conv_node_problem(e, p->g, n, &pr))
        return -1;
    difu_conv2d_desc d = difu_conv_problem_desc(&pr);
    *tile = difu_winograd_tile(d.h, d.w);
    return difu_winograd_fits(&d) ? n->src[1] : -1;
}

/* Floats of an entry's u in the arena (rounded up to 64 bytes). */
static size_t entry_floats(const difu_engine *e, const difu_wino_entry *en)
{
    return (difu_winograd_weights_floats(&e->kernels.gemm_ukernel, en->tile, en->cin, en->cout) +
            15) &
           ~(size_t)15;
}

/* A graph without autodiff is all forward. */
static int forward_nodes(const difu_graph *g) { return g->n_forward ? g->n_forward : g->n_nodes; }

/* The entry of the weight at offset transformed for tile (a weight could serve two image sizes). */
static difu_wino_entry *find(difu_wino_cache *c, size_t offset, int tile)
{
    for (int i = 0; i < c->count; i++)
        if (c->entries[i].param_offset == offset && c->entries[i].tile == tile)
            return &c->entries[i];
    return NULL;
}

/* The entries of plan p's Winograd weights, each weight once, u in one arena. */
static difu_status collect(difu_engine *e, difu_wino_cache *c, const difu_plan *p)
{
    const difu_graph *g = p->g;
    c->entries = calloc((size_t)g->n_nodes + 1, sizeof *c->entries);
    if (!c->entries) {
        difu_wino_cache_free(c);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "Winograd weight cache: out of memory");
    }
    c->count = 0;
    size_t floats = 0;
    for (int i = 0; i < forward_nodes(g); i++) {
        int tile, w = winograd_weight(e, p, i, &tile);
        if (w < 0 || find(c, g->tensors[w].offset, tile))
            continue;
        difu_wino_entry *en = &c->entries[c->count++];
        en->param_offset = g->tensors[w].offset;
        en->tile = tile;
        en->cout = (int)g->tensors[w].shape[0];
        en->cin = (int)g->tensors[w].shape[1];
        floats += entry_floats(e, en);
    }
    if (c->count == 0)
        return DIFU_OK;
    if (difu_arena_alloc(&c->arena, floats * sizeof(float)) != DIFU_OK) {
        difu_wino_cache_free(c);
        return difu_fail(e, DIFU_ERR_NO_MEMORY,
                         "Winograd weight cache: cannot allocate %zu MiB", (floats * 4) >> 20);
    }
    float *at = c->arena.base;
    for (int i = 0; i < c->count; i++) {
        c->entries[i].u = at;
        at += entry_floats(e, &c->entries[i]);
    }
    return DIFU_OK;
}

/* Points p->wino_u at the entries of p's Winograd weights (a weight not collected keeps NULL:
 * its convolution transforms it itself; so does a weight that convolutions of two tiles share,
 * since wino_u holds one u per weight). */
static difu_status attach(difu_engine *e, difu_wino_cache *c, difu_plan *p)
{
    const difu_graph *g = p->g;
    p->wino_u = calloc((size_t)g->n_tensors, sizeof *p->wino_u);
    char *shared = calloc((size_t)g->n_tensors, 1);
    if (!p->wino_u || !shared) {
        free(shared);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "Winograd weight cache: out of memory");
    }
    for (int i = 0; i < forward_nodes(g); i++) {
        int tile, w = winograd_weight(e, p, i, &tile);
        difu_wino_entry *en = w >= 0 ? find(c, g->tensors[w].offset, tile) : NULL;
        if (!en || shared[w])
            continue;
        if (p->wino_u[w] && p->wino_u[w] != en->u)
            shared[w] = 1, p->wino_u[w] = NULL;
        else
            p->wino_u[w] = en->u;
    }
    free(shared);
    return DIFU_OK;
}

typedef struct refresh_job {
    difu_engine *e;
    difu_wino_cache *c;
    const float *params;
    int next; /* the next entry to check, taken atomically */
} refresh_job;

/* Each thread takes entries one at a time: hashes the weights and transforms them again when the
 * hash differs from the one u was made from. u's bits do not depend on the thread. */
static void refresh_entries(void *ctx, void *scratch, int ith, int nth)
{
    (void)ith, (void)nth;
    refresh_job *j = ctx;
    const difu_kernels *k = &j->e->kernels;
    for (int i; (i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->c->count;) {
        difu_wino_entry *en = &j->c->entries[i];
        const float *w = (const float *)((const char *)j->params + en->param_offset);
        XXH128_hash_t h = XXH3_128bits(w, (size_t)en->cout * (size_t)en->cin * 9 * sizeof(float));
        if (en->valid && h.low64 == en->key[0] && h.high64 == en->key[1])
            continue;
        difu_winograd_transform_weights(k, en->tile, en->cin, en->cout, w, en->u, scratch, 0, 1);
        en->key[0] = h.low64, en->key[1] = h.high64;
        en->valid = 1;
    }
}

difu_status difu_wino_cache_prepare(difu_engine *e, difu_wino_cache *c, difu_plan *const *plans,
                                    int count, const float *params)
{
    difu_status s = DIFU_OK;
    if (c->count < 0 && count > 0)
        s = collect(e, c, plans[0]);
    for (int i = 0; s == DIFU_OK && i < count; i++)
        if (!plans[i]->wino_u)
            s = attach(e, c, plans[i]);
    if (s != DIFU_OK || c->count <= 0)
        return s;
    refresh_job j = {e, c, params, 0};
    difu_run_team(e, refresh_entries, &j);
    return DIFU_OK;
}
