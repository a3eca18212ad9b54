/* plan_conv.c: picks, per conv node of a plan, native kernels or oneDNN (p->onednn), by the
 * engine's conv_backend. Under DIFU_CONV_AUTO a problem the engine has not decided yet is timed
 * here, once: the node itself, native (one OpenMP team, as the executor runs it) and on oneDNN,
 * one warm-up each then CHOICE_REPS alternating runs; the smaller median wins and is kept in the
 * engine (conv_choice.c), so the decision never changes for that engine. The node's activations
 * are the plan's arena (filled with a fixed pattern; the caller clears it afterwards); its
 * parameters, gradients and graph inputs get temporary buffers. The oneDNN primitive cache is
 * emptied after each timing, so planning holds at most one problem's oneDNN buffers at a time. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "graph.h"
#include "onednn_conv.h"

#define CHOICE_REPS 3

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Small values in [-0.5, 0.5): no denormals, no zeros a kernel could skip. */
static void fill_pattern(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((i * 7919) % 1024) * (1.0f / 1024.0f) - 0.5f;
}

static void run_native(difu_engine *e, const difu_exec *x, const difu_node *n)
{
    const difu_op_def *def = difu_op_get(n->op);
    if (e->threads == 1) {
        def->run(x, n, difu_thread_scratch(e, 0), 0, 1);
        return;
    }
#pragma omp parallel num_threads(e->threads)
    def->run(x, n, difu_thread_scratch(e, omp_get_thread_num()), omp_get_thread_num(),
             omp_get_num_threads());
}

/* Points ptr at every tensor node n touches: ACT ones into the arena, the others into fresh
 * buffers (tmp[], at most DIFU_NODE_MAX_SRC + DIFU_NODE_MAX_DST of them). Sources are filled. */
static difu_status bind_node(difu_engine *e, const difu_plan *p, const difu_node *n, void **ptr,
                             difu_arena *tmp, int *ntmp)
{
    const difu_graph *g = p->g;
    int ids[DIFU_NODE_MAX_SRC + DIFU_NODE_MAX_DST], nid = 0;
    for (int s = 0; s < DIFU_NODE_MAX_SRC; s++)
        ids[nid++] = n->src[s];
    for (int d = 0; d < DIFU_NODE_MAX_DST; d++)
        ids[nid++] = n->dst[d];
    for (int i = 0; i < nid; i++) {
        int t = ids[i];
        if (t < 0 || ptr[t])
            continue;
        const difu_gtensor *x = &g->tensors[t];
        if (x->kind == DIFU_T_ACT) {
            ptr[t] = (char *)p->arena.base + p->offset[t];
        } else {
            difu_arena *a = &tmp[(*ntmp)++];
            if (difu_arena_alloc(a, difu_gtensor_bytes(x) + 64) != DIFU_OK)
                return difu_fail(e, DIFU_ERR_NO_MEMORY,
                                 "plan: no memory to time node '%s' (tensor '%s')", n->name,
                                 x->name);
            ptr[t] = a->base;
        }
        if (i < DIFU_NODE_MAX_SRC && x->dtype == DIFU_F32)
            fill_pattern(ptr[t], difu_gtensor_numel(x));
    }
    return DIFU_OK;
}

/* Times node n both ways and records the decision for its problem. */
static difu_status time_node(difu_engine *e, const difu_plan *p, const difu_node *n,
                             const difu_conv_problem *pr, void **ptr)
{
    difu_arena tmp[DIFU_NODE_MAX_SRC + DIFU_NODE_MAX_DST];
    memset(tmp, 0, sizeof tmp);
    int ntmp = 0;
    difu_status s = bind_node(e, p, n, ptr, tmp, &ntmp);
    difu_exec x = {p->g, &e->kernels, ptr, NULL};
    double native[CHOICE_REPS], onednn[CHOICE_REPS];
    int onednn_ok = 1;
    for (int r = -1; r < CHOICE_REPS && s == DIFU_OK; r++) {
        double t0 = omp_get_wtime();
        run_native(e, &x, n);
        double t1 = omp_get_wtime();
        if (onednn_ok && difu_conv_node_onednn(e, &x, n) != DIFU_OK)
            onednn_ok = 0; /* e.g. a problem oneDNN does not implement: stay native */
        double t2 = omp_get_wtime();
        if (r >= 0) {
            native[r] = t1 - t0;
            onednn[r] = t2 - t1;
        }
    }
    for (int i = 0; i < ntmp; i++)
        difu_arena_free(&tmp[i]);
    /* Drop the primitive and the blocked buffers the timing made (tens of MB per problem): the
     * problems that chose oneDNN build theirs again on their first run, the others never. */
    difu_onednn_release(e);
    if (s != DIFU_OK)
        return s;
    difu_clear_error(e);
    difu_conv_choice c;
    memset(&c, 0, sizeof c);
    c.key = *pr;
    c.native_ms = 1e3 * median(native, CHOICE_REPS);
    c.onednn_ms = onednn_ok ? 1e3 * median(onednn, CHOICE_REPS) : 0;
    c.onednn = onednn_ok && c.onednn_ms < c.native_ms;
    return difu_conv_choice_add(e, &c);
}

difu_status difu_plan_choose_convs(difu_engine *e, difu_plan *p, int *timed)
{
    const difu_graph *g = p->g;
    *timed = 0;
    memset(p->onednn, 0, (size_t)g->n_nodes);
    if (e->conv_backend == DIFU_CONV_NATIVE || !difu_onednn_available())
        return DIFU_OK;
    void **ptr = NULL;
    difu_status s = DIFU_OK;
    for (int i = 0; i < g->n_nodes && s == DIFU_OK; i++) {
        difu_conv_problem pr;
        if (!difu_conv_node_problem(e, g, &g->nodes[i], &pr))
            continue;
        if (e->conv_backend == DIFU_CONV_ONEDNN) {
            p->onednn[i] = 1;
            continue;
        }
        const difu_conv_choice *c = difu_conv_choice_find(e, &pr);
        if (!c && p->arena.base) {
            if (!ptr && !(ptr = calloc((size_t)g->n_tensors, sizeof *ptr)))
                return difu_fail(e, DIFU_ERR_NO_MEMORY, "plan: out of memory");
            memset(ptr, 0, (size_t)g->n_tensors * sizeof *ptr);
            s = time_node(e, p, &g->nodes[i], &pr, ptr);
            *timed = 1;
            c = difu_conv_choice_find(e, &pr);
        }
        p->onednn[i] = c && c->onednn;
    }
    free(ptr);
    return s;
}
