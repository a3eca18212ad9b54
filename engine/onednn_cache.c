/* onednn_cache.c: the oneDNN backend's primitive cache (e->onednn): building an entry (the
 * convolution primitive with format_tag any, so oneDNN picks its blocked layouts; reorders from and
 * to the caller's NCHW / OIHW buffers; blocked buffers and scratchpad allocated and touched once
 * and kept), finding it again by an XXH3-64 hash of its key confirmed by comparing the key, LRU
 * eviction past DIFU_ONEDNN_CACHE_CAP entries, and running an entry. Weights are reordered on every
 * call, since training changes them every step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <xxhash.h>

#include "onednn_internal.h"

const char *const difu_onednn_op_names[ONEDNN_OP_COUNT] = {"conv2d_forward", "conv2d_backward_data",
                                                           "conv2d_backward_weights"};

/* ---------------------------------------------------------------- errors */

static difu_status status_from_dnnl(dnnl_status_t st)
{
    switch (st) {
    case dnnl_out_of_memory: return DIFU_ERR_NO_MEMORY;
    case dnnl_unimplemented: return DIFU_ERR_UNSUPPORTED;
    default: return DIFU_ERR_INTERNAL;
    }
}

difu_status difu_onednn_fail(difu_engine *e, const onednn_key *k, const char *call,
                             dnnl_status_t st)
{
    return difu_fail(e, status_from_dnnl(st),
                     "%s (oneDNN): %s failed (%s) for n=%d cin=%d h=%d w=%d cout=%d k=%d stride=%d "
                     "pad=%d%s",
                     difu_onednn_op_names[k->op], call, dnnl_status2str(st), k->n, k->cin, k->h,
                     k->w, k->cout, k->k, k->stride, k->pad, k->has_bias ? " with bias" : "");
}

onednn_key difu_onednn_make_key(const difu_engine *e, onednn_op op, const difu_conv2d_desc *d,
                                int has_bias)
{
    onednn_key k;
    memset(&k, 0, sizeof k);
    k.op = op;
    k.has_bias = has_bias != 0;
    k.threads = e->threads;
    k.n = d->n;
    k.cin = d->cin;
    k.h = d->h;
    k.w = d->w;
    k.cout = d->cout;
    k.k = d->k;
    k.stride = d->stride;
    k.pad = d->pad;
    return k;
}

/* ---------------------------------------------------------------- cache entries */

static void arg_destroy(onednn_arg *a)
{
    if (a->reorder)
        dnnl_primitive_destroy(a->reorder);
    if (a->prim && a->prim != a->user)
        dnnl_memory_destroy(a->prim);
    if (a->user)
        dnnl_memory_destroy(a->user);
    difu_arena_free(&a->buf);
    memset(a, 0, sizeof *a);
}

static void entry_destroy(onednn_entry *ent)
{
    if (!ent)
        return;
    for (int i = 0; i < ONEDNN_ARGS; i++)
        arg_destroy(&ent->args[i]);
    if (ent->scratch_mem)
        dnnl_memory_destroy(ent->scratch_mem);
    difu_arena_free(&ent->scratch);
    if (ent->prim)
        dnnl_primitive_destroy(ent->prim);
    if (ent->pd)
        dnnl_primitive_desc_destroy(ent->pd);
    free(ent);
}

/* Allocates and touches a buffer of md's size and wraps it in a memory object. */
static difu_status blocked_memory(difu_engine *e, const onednn_key *key, dnnl_engine_t eng,
                                  const dnnl_memory_desc_t *md, difu_arena *buf, dnnl_memory_t *mem)
{
    difu_status status = DIFU_OK;
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (difu_arena_alloc(buf, bytes) != DIFU_OK)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s (oneDNN): cannot allocate %zu bytes",
                         difu_onednn_op_names[key->op], bytes);
    if (buf->base)
        memset(buf->base, 0, buf->size); /* fault the pages in now, not in the first step */
    DNNL_CHECK(dnnl_memory_create, mem, md, eng, buf->base);
    return DIFU_OK;
fail:
    difu_arena_free(buf);
    return status;
}

/* Sets up argument a: a memory over the user's buffer (layout user_md) and, when the primitive
 * wants another layout (prim_md), a blocked buffer and the reorder between them. */
static difu_status arg_setup(difu_engine *e, const onednn_key *key, dnnl_engine_t eng,
                             onednn_arg *a, int arg, int is_output,
                             const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md)
{
    difu_status status = DIFU_OK;
    dnnl_primitive_desc_t rpd = NULL;
    a->arg = arg;
    a->is_output = is_output;
    DNNL_CHECK(dnnl_memory_create, &a->user, user_md, eng, DNNL_MEMORY_NONE);
    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        a->prim = a->user;
        return DIFU_OK;
    }
    status = blocked_memory(e, key, eng, prim_md, &a->buf, &a->prim);
    if (status != DIFU_OK)
        return status;
    if (is_output)
        DNNL_CHECK(dnnl_reorder_primitive_desc_create, &rpd, prim_md, eng, user_md, eng, NULL);
    else
        DNNL_CHECK(dnnl_reorder_primitive_desc_create, &rpd, user_md, eng, prim_md, eng, NULL);
    DNNL_CHECK(dnnl_primitive_create, &a->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return DIFU_OK;
fail:
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    return status;
}

/* The convolution's primitive descriptor for key, with oneDNN choosing the layouts. */
static difu_status conv_pd_create(difu_engine *e, const onednn_key *key, dnnl_engine_t eng,
                                  const dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    difu_status status = DIFU_OK;
    dnnl_primitive_desc_t fwd_pd = NULL;
    int oh = difu_onednn_out_size(key->h, key->k, key->stride, key->pad);
    int ow = difu_onednn_out_size(key->w, key->k, key->stride, key->pad);
    dnnl_dims_t src_dims = {key->n, key->cin, key->h, key->w};
    dnnl_dims_t wei_dims = {key->cout, key->cin, key->k, key->k};
    dnnl_dims_t dst_dims = {key->n, key->cout, oh, ow};
    dnnl_dims_t bias_dims = {key->cout};
    dnnl_dims_t strides = {key->stride, key->stride};
    dnnl_dims_t pad_l = {key->pad, key->pad};
    /* Right padding makes (in + pad_l + pad_r - k) / stride + 1 come out exactly oh. */
    dnnl_dims_t pad_r = {(dnnl_dim_t)(oh - 1) * key->stride + key->k - key->h - key->pad,
                         (dnnl_dim_t)(ow - 1) * key->stride + key->k - key->w - key->pad};
    dnnl_memory_desc_t src, wei, dst, bias;
    dnnl_convolution_desc_t fwd, bwd;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &src, 4, src_dims, dnnl_f32, dnnl_format_tag_any);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &wei, 4, wei_dims, dnnl_f32, dnnl_format_tag_any);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &bias, 1, bias_dims, dnnl_f32, dnnl_x);
    const dnnl_memory_desc_t *bias_md = key->has_bias ? &bias : NULL;
    DNNL_CHECK(dnnl_convolution_forward_desc_init, &fwd, dnnl_forward_training,
               dnnl_convolution_direct, &src, &wei, bias_md, &dst, strides, pad_l, pad_r);
    if (key->op == ONEDNN_OP_FWD) {
        DNNL_CHECK(dnnl_primitive_desc_create, out, &fwd, attr, eng, NULL);
        return DIFU_OK;
    }
    /* The backward primitives take the forward one as a hint for their layouts. */
    DNNL_CHECK(dnnl_primitive_desc_create, &fwd_pd, &fwd, NULL, eng, NULL);
    if (key->op == ONEDNN_OP_BWD_DATA)
        DNNL_CHECK(dnnl_convolution_backward_data_desc_init, &bwd, dnnl_convolution_direct, &src,
                   &wei, &dst, strides, pad_l, pad_r);
    else
        DNNL_CHECK(dnnl_convolution_backward_weights_desc_init, &bwd, dnnl_convolution_direct, &src,
                   &wei, bias_md, &dst, strides, pad_l, pad_r);
    DNNL_CHECK(dnnl_primitive_desc_create, out, &bwd, attr, eng, fwd_pd);
    dnnl_primitive_desc_destroy(fwd_pd);
    return DIFU_OK;
fail:
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    return status;
}

/* How one tensor of an op is set up: its DNNL_ARG_*, direction, user layout and where the
 * primitive's layout is queried. */
typedef struct arg_plan {
    int arg, is_output;
    const dnnl_memory_desc_t *user;
    dnnl_query_t q;
    int index;
} arg_plan;

/* Builds the entry for key: primitive, reorders, blocked buffers, scratchpad. */
static difu_status entry_create(difu_engine *e, onednn_state *s, const onednn_key *key,
                                onednn_entry **out)
{
    difu_status status = DIFU_OK;
    dnnl_primitive_attr_t attr = NULL;
    onednn_entry *ent = calloc(1, sizeof *ent);
    if (!ent)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s (oneDNN): out of memory",
                         difu_onednn_op_names[key->op]);
    ent->key = *key;
    /* The entry owns its scratchpad, so nothing is allocated while running. */
    DNNL_CHECK(dnnl_primitive_attr_create, &attr);
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode, attr, dnnl_scratchpad_mode_user);
    status = conv_pd_create(e, key, s->eng, attr, &ent->pd);
    if (status != DIFU_OK)
        goto fail;
    dnnl_primitive_attr_destroy(attr);
    attr = NULL;
    DNNL_CHECK(dnnl_primitive_create, &ent->prim, ent->pd);

    int oh = difu_onednn_out_size(key->h, key->k, key->stride, key->pad);
    int ow = difu_onednn_out_size(key->w, key->k, key->stride, key->pad);
    dnnl_dims_t act_dims = {key->n, key->cin, key->h, key->w};
    dnnl_dims_t wei_dims = {key->cout, key->cin, key->k, key->k};
    dnnl_dims_t dst_dims = {key->n, key->cout, oh, ow};
    dnnl_dims_t bias_dims = {key->cout};
    dnnl_memory_desc_t nchw_src, oihw, nchw_dst, x;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &nchw_src, 4, act_dims, dnnl_f32, dnnl_nchw);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &oihw, 4, wei_dims, dnnl_f32, dnnl_oihw);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &nchw_dst, 4, dst_dims, dnnl_f32, dnnl_nchw);
    DNNL_CHECK(dnnl_memory_desc_init_by_tag, &x, 1, bias_dims, dnnl_f32, dnnl_x);

    arg_plan t[ONEDNN_ARGS];
    memset(t, 0, sizeof t);
    switch ((onednn_op)key->op) {
    case ONEDNN_OP_FWD:
        t[ONEDNN_IN0] = (arg_plan){DNNL_ARG_SRC, 0, &nchw_src, dnnl_query_src_md, 0};
        t[ONEDNN_IN1] = (arg_plan){DNNL_ARG_WEIGHTS, 0, &oihw, dnnl_query_weights_md, 0};
        t[ONEDNN_OUT] = (arg_plan){DNNL_ARG_DST, 1, &nchw_dst, dnnl_query_dst_md, 0};
        t[ONEDNN_BIAS] = (arg_plan){DNNL_ARG_BIAS, 0, &x, dnnl_query_weights_md, 1};
        break;
    case ONEDNN_OP_BWD_DATA:
        t[ONEDNN_IN0] = (arg_plan){DNNL_ARG_DIFF_DST, 0, &nchw_dst, dnnl_query_diff_dst_md, 0};
        t[ONEDNN_IN1] = (arg_plan){DNNL_ARG_WEIGHTS, 0, &oihw, dnnl_query_weights_md, 0};
        t[ONEDNN_OUT] = (arg_plan){DNNL_ARG_DIFF_SRC, 1, &nchw_src, dnnl_query_diff_src_md, 0};
        break;
    default:
        t[ONEDNN_IN0] = (arg_plan){DNNL_ARG_SRC, 0, &nchw_src, dnnl_query_src_md, 0};
        t[ONEDNN_IN1] = (arg_plan){DNNL_ARG_DIFF_DST, 0, &nchw_dst, dnnl_query_diff_dst_md, 0};
        t[ONEDNN_OUT] = (arg_plan){DNNL_ARG_DIFF_WEIGHTS, 1, &oihw, dnnl_query_diff_weights_md, 0};
        t[ONEDNN_BIAS] = (arg_plan){DNNL_ARG_DIFF_BIAS, 1, &x, dnnl_query_diff_weights_md, 1};
        break;
    }
    for (int i = 0; i < ONEDNN_ARGS; i++) {
        if (!t[i].arg || (i == ONEDNN_BIAS && !key->has_bias))
            continue;
        const dnnl_memory_desc_t *prim_md =
            dnnl_primitive_desc_query_md(ent->pd, t[i].q, t[i].index);
        if (!prim_md) {
            status = difu_fail(e, DIFU_ERR_INTERNAL,
                               "%s (oneDNN): dnnl_primitive_desc_query_md found no layout for "
                               "argument %d",
                               difu_onednn_op_names[key->op], t[i].arg);
            goto fail;
        }
        status =
            arg_setup(e, key, s->eng, &ent->args[i], t[i].arg, t[i].is_output, t[i].user, prim_md);
        if (status != DIFU_OK)
            goto fail;
    }
    const dnnl_memory_desc_t *scratch_md =
        dnnl_primitive_desc_query_md(ent->pd, dnnl_query_scratchpad_md, 0);
    if (scratch_md && dnnl_memory_desc_get_size(scratch_md) > 0) {
        status = blocked_memory(e, key, s->eng, scratch_md, &ent->scratch, &ent->scratch_mem);
        if (status != DIFU_OK)
            goto fail;
    }
    *out = ent;
    return DIFU_OK;
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    entry_destroy(ent);
    return status;
}

/* ---------------------------------------------------------------- the cache */

static difu_status state_get(difu_engine *e, const onednn_key *key, onednn_state **out)
{
    difu_status status = DIFU_OK;
    if (e->onednn) {
        *out = e->onednn;
        return DIFU_OK;
    }
    onednn_state *s = calloc(1, sizeof *s);
    if (!s)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s (oneDNN): out of memory",
                         difu_onednn_op_names[key->op]);
    DNNL_CHECK(dnnl_engine_create, &s->eng, dnnl_cpu, 0);
    DNNL_CHECK(dnnl_stream_create, &s->stream, s->eng, dnnl_stream_default_flags);
    e->onednn = s;
    *out = s;
    return DIFU_OK;
fail:
    if (s->eng)
        dnnl_engine_destroy(s->eng);
    free(s);
    return status;
}

/* The entry for key: found by hash and key, or created (evicting the least recently used one
 * when the cache is full). */
difu_status difu_onednn_cache_get(difu_engine *e, const onednn_key *key, onednn_state **state,
                                  onednn_entry **out)
{
    onednn_state *s = NULL;
    difu_status status = state_get(e, key, &s);
    if (status != DIFU_OK)
        return status;
    uint64_t hash = XXH3_64bits(key, sizeof *key);
    onednn_entry *ent = NULL;
    for (int i = 0; i < s->count && !ent; i++)
        if (s->entries[i]->hash == hash && memcmp(&s->entries[i]->key, key, sizeof *key) == 0)
            ent = s->entries[i];
    if (!ent) {
        status = entry_create(e, s, key, &ent);
        if (status != DIFU_OK)
            return status;
        ent->hash = hash;
        ent->id = ++s->next_id;
        int slot = s->count;
        if (s->count == DIFU_ONEDNN_CACHE_CAP) {
            slot = 0;
            for (int i = 1; i < s->count; i++)
                if (s->entries[i]->last_use < s->entries[slot]->last_use)
                    slot = i;
            entry_destroy(s->entries[slot]);
        } else {
            s->count++;
        }
        s->entries[slot] = ent;
    }
    ent->last_use = ++s->clock;
    *state = s;
    *out = ent;
    return DIFU_OK;
}

/* ---------------------------------------------------------------- running */

/* Runs the bare primitive on the entry's memories (blocked buffers or the user's). */
difu_status difu_onednn_entry_exec(difu_engine *e, onednn_state *s, onednn_entry *ent)
{
    difu_status status = DIFU_OK;
    const onednn_key *key = &ent->key;
    dnnl_exec_arg_t args[ONEDNN_ARGS + 1];
    int nargs = 0;
    for (int i = 0; i < ONEDNN_ARGS; i++)
        if (ent->args[i].arg)
            args[nargs++] = (dnnl_exec_arg_t){ent->args[i].arg, ent->args[i].prim};
    if (ent->scratch_mem)
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, ent->scratch_mem};
    DNNL_CHECK(dnnl_primitive_execute, ent->prim, s->stream, nargs, args);
    return DIFU_OK;
fail:
    return status;
}

/* The whole call: point the user memories at buffers[], reorder the inputs in, run, reorder the
 * outputs back. */
difu_status difu_onednn_entry_run(difu_engine *e, onednn_state *s, onednn_entry *ent,
                                  void *const buffers[ONEDNN_ARGS])
{
    difu_status status = DIFU_OK;
    const onednn_key *key = &ent->key;
    for (int i = 0; i < ONEDNN_ARGS; i++)
        if (ent->args[i].arg)
            DNNL_CHECK(dnnl_memory_set_data_handle, ent->args[i].user, buffers[i]);
    for (int i = 0; i < ONEDNN_ARGS; i++) {
        onednn_arg *a = &ent->args[i];
        if (a->reorder && !a->is_output) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, a->user}, {DNNL_ARG_TO, a->prim}};
            DNNL_CHECK(dnnl_primitive_execute, a->reorder, s->stream, 2, ra);
        }
    }
    status = difu_onednn_entry_exec(e, s, ent);
    if (status != DIFU_OK)
        return status;
    for (int i = 0; i < ONEDNN_ARGS; i++) {
        onednn_arg *a = &ent->args[i];
        if (a->reorder && a->is_output) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, a->prim}, {DNNL_ARG_TO, a->user}};
            DNNL_CHECK(dnnl_primitive_execute, a->reorder, s->stream, 2, ra);
        }
    }
    DNNL_CHECK(dnnl_stream_wait, s->stream);
    s->last_id = ent->id;
    return DIFU_OK;
fail:
    return status;
}

int difu_onednn_threads_enter(const difu_engine *e)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(e->threads);
    return saved;
}

void difu_onednn_threads_leave(int saved) { omp_set_num_threads(saved); }

/* ---------------------------------------------------------------- lifetime and queries */

void difu_onednn_release(difu_engine *e)
{
    if (!e || !e->onednn)
        return;
    onednn_state *s = e->onednn;
    for (int i = 0; i < s->count; i++)
        entry_destroy(s->entries[i]);
    if (s->stream)
        dnnl_stream_destroy(s->stream);
    if (s->eng)
        dnnl_engine_destroy(s->eng);
    free(s);
    e->onednn = NULL;
}

int difu_onednn_cache_capacity(void) { return DIFU_ONEDNN_CACHE_CAP; }

int difu_onednn_cache_size(const difu_engine *e)
{
    return e && e->onednn ? ((const onednn_state *)e->onednn)->count : 0;
}

uint64_t difu_onednn_cache_last_id(const difu_engine *e)
{
    return e && e->onednn ? ((const onednn_state *)e->onednn)->last_id : 0;
}
