/* anomaly.c: the non-finite check of a checked graph run (difu_graph_run_checked, executor.c
 * calls it right after each node, in the node's threads) and the report of what it found, named
 * after the graph's nodes and tensors (the checkpoint keys). */
#include <math.h>
#include <stdio.h>

#include "graph.h"

int difu_anomaly_checked(const difu_plan *p, int node, int d)
{
    int t = p->g->nodes[node].dst[d];
    if (t < 0)
        return 0;
    const difu_gtensor *x = &p->g->tensors[t];
    if (x->dtype != DIFU_F32 && x->dtype != DIFU_F64)
        return 0;
    /* the result, parameter gradients, and what a later node reads (or the caller keeps); a
     * node's private scratch may hold anything */
    return d == 0 || x->kind == DIFU_T_GRAD || p->last[t] > node;
}

int64_t difu_anomaly_scan(const difu_plan *p, int tensor, int ith, int nth, double *value)
{
    const difu_gtensor *x = &p->g->tensors[tensor];
    int64_t begin, end;
    difu_split16(difu_gtensor_numel(x), ith, nth, &begin, &end);
    if (x->dtype == DIFU_F32) {
        const float *v = p->ptr[tensor];
        for (int64_t j = begin; j < end; j++)
            if (!isfinite(v[j])) {
                *value = v[j];
                return j;
            }
    } else if (x->dtype == DIFU_F64) {
        const double *v = p->ptr[tensor];
        for (int64_t j = begin; j < end; j++)
            if (!isfinite(v[j])) {
                *value = v[j];
                return j;
            }
    }
    return -1;
}

/* "forward", or for a backward node whose gradient it made. */
static void role_of(const difu_graph *g, int node, const difu_gtensor *t, char *buf, size_t len)
{
    if (g->n_forward == 0 || node < g->n_forward) {
        snprintf(buf, len, "forward");
        return;
    }
    int of = t->kind == DIFU_T_GRAD ? t->grad_of : t->grad_for;
    if (of < 0) {
        snprintf(buf, len, "backward");
        return;
    }
    const difu_gtensor *target = &g->tensors[of];
    snprintf(buf, len, "backward: gradient of %s'%s'",
             target->kind == DIFU_T_PARAM ? "parameter " : "", target->name);
}

const char *difu_anomaly_describe(const difu_graph *g, const difu_anomaly *a, char *buf,
                                  size_t len)
{
    if (a->node < 0 || a->node >= g->n_nodes) {
        snprintf(buf, len, "no non-finite value");
        return buf;
    }
    const difu_node *n = &g->nodes[a->node];
    const difu_gtensor *t = &g->tensors[n->dst[a->dst]];
    char role[2 * DIFU_NAME_LEN + 48], shape[96], which[DIFU_NAME_LEN + 32] = "";
    role_of(g, a->node, t, role, sizeof role);
    difu_shape_str(t, shape, sizeof shape);
    if (a->dst > 0)
        snprintf(which, sizeof which, "output %d '%s' ", a->dst, t->name);
    const char *value = isnan(a->value) ? "nan" : a->value > 0 ? "inf" : "-inf";
    snprintf(buf, len, "node %d '%s' (%s, %s): %s at element %lld of %s%s", a->node, n->name,
             difu_op_get(n->op)->name, role, value, (long long)a->index, which, shape);
    return buf;
}
