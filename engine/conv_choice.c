/* conv_choice.c: the engine's cache of native-or-oneDNN decisions (e->conv_choices): a growing
 * array in the order the decisions were made, searched by the XXH3-64 of the problem and
 * confirmed by comparing the problem itself. */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "conv_choice.h"

typedef struct choice_cache {
    difu_conv_choice *v;
    int count, cap;
} choice_cache;

const char *difu_conv_dir_name(difu_conv_dir d)
{
    static const char *const names[DIFU_CONV_DIR_COUNT] = {"fwd", "bwd_data", "bwd_weights"};
    return (d >= 0 && d < DIFU_CONV_DIR_COUNT) ? names[d] : "unknown";
}

difu_conv_problem difu_conv_problem_make(const difu_engine *e, difu_conv_dir dir,
                                         const difu_conv2d_desc *d, int has_bias)
{
    difu_conv_problem p;
    memset(&p, 0, sizeof p);
    p.dir = dir;
    p.has_bias = has_bias != 0;
    p.threads = e->threads;
    p.isa = e->isa;
    p.n = d->n;
    p.cin = d->cin;
    p.h = d->h;
    p.w = d->w;
    p.cout = d->cout;
    p.k = d->k;
    p.stride = d->stride;
    p.pad = d->pad;
    return p;
}

uint64_t difu_conv_problem_hash(const difu_conv_problem *p) { return XXH3_64bits(p, sizeof *p); }

difu_conv2d_desc difu_conv_problem_desc(const difu_conv_problem *p)
{
    difu_conv2d_desc d = {p->n, p->cin, p->h, p->w, p->cout, p->k, p->stride, p->pad};
    return d;
}

const difu_conv_choice *difu_conv_choice_find(const difu_engine *e, const difu_conv_problem *p)
{
    const choice_cache *c = e->conv_choices;
    if (!c)
        return NULL;
    uint64_t h = difu_conv_problem_hash(p);
    for (int i = 0; i < c->count; i++)
        if (c->v[i].hash == h && memcmp(&c->v[i].key, p, sizeof *p) == 0)
            return &c->v[i];
    return NULL;
}

difu_status difu_conv_choice_add(difu_engine *e, const difu_conv_choice *choice)
{
    choice_cache *c = e->conv_choices;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return difu_fail(e, DIFU_ERR_NO_MEMORY, "conv choice: out of memory");
        e->conv_choices = c;
    }
    difu_conv_choice item = *choice;
    item.hash = difu_conv_problem_hash(&item.key);
    for (int i = 0; i < c->count; i++)
        if (c->v[i].hash == item.hash && memcmp(&c->v[i].key, &item.key, sizeof item.key) == 0) {
            c->v[i] = item;
            return DIFU_OK;
        }
    if (c->count == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        difu_conv_choice *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v)
            return difu_fail(e, DIFU_ERR_NO_MEMORY, "conv choice: out of memory");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->count++] = item;
    return DIFU_OK;
}

int difu_conv_choice_count(const difu_engine *e)
{
    const choice_cache *c = e->conv_choices;
    return c ? c->count : 0;
}

const difu_conv_choice *difu_conv_choice_at(const difu_engine *e, int i)
{
    const choice_cache *c = e->conv_choices;
    return (c && i >= 0 && i < c->count) ? &c->v[i] : NULL;
}

void difu_conv_choices_free(difu_engine *e)
{
    choice_cache *c = e->conv_choices;
    if (!c)
        return;
    free(c->v);
    free(c);
    e->conv_choices = NULL;
}
