/* planner.c: places a graph's activations (and activation gradients, and per-node scratch) in one
 * arena by liveness. Each ACT tensor is live over [its producing node, its last reader] in
 * execution order (to the end for kept outputs); tensors are placed largest first, each at the
 * best-fitting gap (the smallest free range that holds it) among the already placed tensors whose
 * intervals overlap it. Offsets are DIFU_GRAPH_ALIGN aligned. The arena is allocated and touched
 * once here, so runs do no allocation and meet no first-touch page faults.
 * It also decides where the executor needs a barrier: between a node and the next one unless the
 * next one touches no memory written by, or written over what is read by, any node since the
 * last barrier. A node run on oneDNN (plan_conv.c) ends the executor's parallel region before it
 * and starts a new one after it: both are full synchronisations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static size_t align_up(size_t x)
{
    return (x + DIFU_GRAPH_ALIGN - 1) & ~(size_t)(DIFU_GRAPH_ALIGN - 1);
}

typedef struct span {
    size_t begin, end;
} span;

typedef struct sort_key {
    size_t size;
    int first, id;
} sort_key;

static int by_begin(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Larger first, then earlier, then lower id: a total order, so plans are reproducible. */
static int by_size(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void liveness(difu_plan *p)
{
    const difu_graph *g = p->g;
    for (int t = 0; t < g->n_tensors; t++)
        p->first[t] = p->last[t] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const difu_node *n = &g->nodes[i];
        for (int d = 0; d < DIFU_NODE_MAX_DST; d++)
            if (n->dst[d] >= 0) {
                p->first[n->dst[d]] = i;
                p->last[n->dst[d]] = i;
            }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const difu_node *n = &g->nodes[i];
        for (int s = 0; s < DIFU_NODE_MAX_SRC; s++)
            if (n->src[s] >= 0 && p->last[n->src[s]] < i)
                p->last[n->src[s]] = i;
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].keep && p->first[t] >= 0)
            p->last[t] = g->n_nodes;
}

static difu_status place(difu_plan *p)
{
    const difu_graph *g = p->g;
    int count = 0;
    sort_key *keys = malloc((size_t)g->n_tensors * sizeof *keys);
    span *busy = malloc((size_t)g->n_tensors * sizeof *busy);
    if (!keys || !busy) {
        free(keys);
        free(busy);
        return DIFU_ERR_NO_MEMORY;
    }
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].kind == DIFU_T_ACT) {
            keys[count].size = align_up(difu_gtensor_bytes(&g->tensors[t]));
            keys[count].first = p->first[t];
            keys[count].id = t;
            p->sum_bytes += keys[count].size;
            count++;
        }
    qsort(keys, (size_t)count, sizeof *keys, by_size);
    size_t peak = 0;
    for (int i = 0; i < count; i++) {
        int t = keys[i].id;
        size_t size = keys[i].size;
        int nb = 0;
        for (int j = 0; j < i; j++) {
            int u = keys[j].id;
            if (p->first[u] <= p->last[t] && p->first[t] <= p->last[u]) {
                busy[nb].begin = p->offset[u];
                busy[nb].end = p->offset[u] + keys[j].size;
                nb++;
            }
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_begin);
        size_t best = 0, best_gap = (size_t)-1, cursor = 0;
        int found = 0;
        for (int j = 0; j < nb; j++) {
            if (busy[j].begin > cursor && busy[j].begin - cursor >= size &&
                busy[j].begin - cursor < best_gap) {
                best = cursor;
                best_gap = busy[j].begin - cursor;
                found = 1;
            }
            if (busy[j].end > cursor)
                cursor = busy[j].end;
        }
        if (!found)
            best = cursor; /* after everything live at the same time */
        p->offset[t] = best;
        if (best + size > peak)
            peak = best + size;
    }
    p->arena_bytes = peak;
    free(keys);
    free(busy);
    return DIFU_OK;
}

/* The memory a tensor occupies, as (block, begin, end); blocks: 0 arena, 1 params, 2 grads,
 * 3 + slot inputs. */
typedef struct region {
    int block;
    size_t begin, end;
} region;

static region region_of(const difu_plan *p, int t)
{
    const difu_gtensor *x = &p->g->tensors[t];
    region r;
    size_t bytes = difu_gtensor_bytes(x);
    switch (x->kind) {
    case DIFU_T_ACT: r.block = 0; r.begin = p->offset[t]; break;
    case DIFU_T_PARAM: r.block = 1; r.begin = x->offset; break;
    case DIFU_T_GRAD: r.block = 2; r.begin = x->offset; break;
    default: r.block = 3 + x->input_slot; r.begin = 0; break;
    }
    r.end = r.begin + bytes;
    return r;
}

static int overlap(region a, region b)
{
    return a.block == b.block && a.begin < b.end && b.begin < a.end;
}

/* Whether node j may start while node i may still run: j reads nothing i writes and writes
 * nothing i reads or writes. Nodes with internal phases (the same team kernel twice) are fine. */
static int independent(const difu_plan *p, int i, int j)
{
    const difu_node *a = &p->g->nodes[i], *b = &p->g->nodes[j];
    for (int d = 0; d < DIFU_NODE_MAX_DST; d++) {
        if (b->dst[d] < 0)
            continue;
        region w = region_of(p, b->dst[d]);
        for (int s = 0; s < DIFU_NODE_MAX_SRC; s++)
            if (a->src[s] >= 0 && overlap(w, region_of(p, a->src[s])))
                return 0;
        for (int e = 0; e < DIFU_NODE_MAX_DST; e++)
            if (a->dst[e] >= 0 && overlap(w, region_of(p, a->dst[e])))
                return 0;
    }
    for (int e = 0; e < DIFU_NODE_MAX_DST; e++) {
        if (a->dst[e] < 0)
            continue;
        region w = region_of(p, a->dst[e]);
        for (int s = 0; s < DIFU_NODE_MAX_SRC; s++)
            if (b->src[s] >= 0 && overlap(w, region_of(p, b->src[s])))
                return 0;
    }
    return 1;
}

void difu_plan_all_barriers(difu_plan *p)
{
    for (int i = 0; i < p->g->n_nodes; i++)
        p->barrier[i] = 1;
}

static void barriers(difu_plan *p)
{
    const difu_graph *g = p->g;
    int open = 0; /* first node since the last barrier */
    for (int j = 1; j < g->n_nodes; j++) {
        if (p->onednn[j - 1] || p->onednn[j]) { /* a region boundary synchronises anyway */
            p->barrier[j - 1] = 1;
            open = j;
            continue;
        }
        int ok = 1;
        for (int i = open; i < j && ok; i++)
            ok = independent(p, i, j);
        p->barrier[j - 1] = !ok;
        if (!ok)
            open = j;
    }
    if (g->n_nodes)
        p->barrier[g->n_nodes - 1] = 1;
}

void difu_plan_free(difu_plan *p)
{
    if (!p)
        return;
    difu_arena_free(&p->arena);
    free(p->first);
    free(p->last);
    free(p->offset);
    free(p->ptr);
    free(p->barrier);
    free(p->onednn);
    free(p->wino_u);
    free(p);
}

difu_status difu_plan_create(difu_engine *e, const difu_graph *g, int allocate, difu_plan **out)
{
    *out = NULL;
    if (g->status != DIFU_OK)
        return difu_fail(e, g->status, "%s", g->error);
    for (int i = 0; i < g->n_nodes; i++) {
        const difu_op_def *def = difu_op_get(g->nodes[i].op);
        if (def->missing(&e->kernels))
            return difu_fail(e, DIFU_ERR_UNSUPPORTED,
                             "plan: node %d '%s' %s: the engine's kernel table lacks its kernel", i,
                             g->nodes[i].name, def->name);
    }
    difu_plan *p = calloc(1, sizeof *p);
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1);
    if (!p)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "plan: out of memory");
    p->g = g;
    p->first = malloc(nt * sizeof *p->first);
    p->last = malloc(nt * sizeof *p->last);
    p->offset = calloc(nt, sizeof *p->offset);
    p->ptr = calloc(nt, sizeof *p->ptr);
    p->barrier = calloc((size_t)g->n_nodes + 1, 1);
    p->onednn = calloc((size_t)g->n_nodes + 1, 1);
    if (!p->first || !p->last || !p->offset || !p->ptr || !p->barrier || !p->onednn) {
        difu_plan_free(p);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "plan: out of memory");
    }
    liveness(p);
    if (place(p) != DIFU_OK ||
        (allocate && difu_arena_alloc(&p->arena, p->arena_bytes) != DIFU_OK)) {
        size_t bytes = p->arena_bytes;
        difu_plan_free(p);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "plan: cannot allocate a %zu-byte arena", bytes);
    }
    if (p->arena.base)
        memset(p->arena.base, 0, p->arena.size); /* touch once, here */
    int timed = 0;
    difu_status s = difu_plan_choose_convs(e, p, &timed);
    if (s != DIFU_OK) {
        difu_plan_free(p);
        return s;
    }
    if (timed)
        memset(p->arena.base, 0, p->arena.size); /* what the timing left */
    barriers(p);
    *out = p;
    return DIFU_OK;
}

void difu_plan_bind(difu_plan *p, float *params, float *grads, void *const *inputs)
{
    const difu_graph *g = p->g;
    for (int t = 0; t < g->n_tensors; t++) {
        const difu_gtensor *x = &g->tensors[t];
        switch (x->kind) {
        case DIFU_T_ACT: p->ptr[t] = (char *)p->arena.base + p->offset[t]; break;
        case DIFU_T_PARAM: p->ptr[t] = params ? (char *)params + x->offset : NULL; break;
        case DIFU_T_GRAD: p->ptr[t] = grads ? (char *)grads + x->offset : NULL; break;
        default: p->ptr[t] = inputs ? inputs[x->input_slot] : NULL; break;
        }
    }
}
