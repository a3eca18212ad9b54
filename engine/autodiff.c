/* autodiff.c: reverse-mode automatic differentiation of a forward graph. Walks the forward nodes
 * backwards and asks each op's rule (engine/nodes/<op>.c) to append its backward nodes; a tensor
 * used more than once gets its contributions summed by add nodes in a fixed order (the order the
 * walk meets its consumers). Every parameter's final gradient is then placed in the gradient
 * block (DIFU_T_GRAD), laid out like the parameter block. */
#include <stdio.h>
#include <stdlib.h>

#include "graph.h"

int difu_ad_grad(const difu_autodiff *ad, int t) { return ad->grad[t]; }

int difu_ad_needs(const difu_autodiff *ad, int t)
{
    return t >= 0 && ad->g->tensors[t].requires_grad;
}

const char *difu_ad_name(const difu_node *n, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", n->name, suffix);
    return buf;
}

void difu_ad_accumulate(difu_autodiff *ad, int t, int c)
{
    if (c < 0 || t < 0)
        return; /* the graph has failed already */
    ad->g->tensors[c].grad_for = t;
    if (ad->grad[t] == -1) {
        ad->grad[t] = c;
        return;
    }
    char name[DIFU_NAME_LEN];
    snprintf(name, sizeof name, "%.56s/grad+", ad->g->tensors[t].name);
    ad->grad[t] = difu_g_add(ad->g, name, ad->grad[t], c);
    if (ad->grad[t] >= 0)
        ad->g->tensors[ad->grad[t]].grad_for = t;
}

/* Grows ad->grad to cover tensors added since (they never need gradients themselves). */
static int grow(difu_autodiff *ad, int *cap)
{
    if (ad->g->n_tensors <= *cap)
        return 0;
    int ncap = ad->g->n_tensors * 2;
    int *p = realloc(ad->grad, (size_t)ncap * sizeof *p);
    if (!p)
        return -1;
    for (int i = *cap; i < ncap; i++)
        p[i] = -1;
    ad->grad = p;
    *cap = ncap;
    return 0;
}

difu_status difu_autodiff_build(difu_graph *g, int loss)
{
    if (g->status != DIFU_OK)
        return g->status;
    if (loss < 0 || loss >= g->n_tensors || g->tensors[loss].producer < 0 ||
        g->nodes[g->tensors[loss].producer].op != DIFU_OP_MSE_LOSS) {
        difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "autodiff: tensor %d is not the output of mse_loss",
                        loss);
        return g->status;
    }
    g->n_forward = g->n_nodes;
    int cap = 0;
    difu_autodiff ad = {g, NULL};
    if (grow(&ad, &cap) != 0) {
        difu_graph_fail(g, DIFU_ERR_NO_MEMORY, "autodiff: out of memory");
        return g->status;
    }
    ad.grad[loss] = DIFU_GRAD_ONE;
    for (int i = g->n_forward - 1; i >= 0 && g->status == DIFU_OK; i--) {
        difu_node n = g->nodes[i]; /* a copy: rules append nodes and may move the array */
        int any = 0;
        for (int d = 0; d < DIFU_NODE_MAX_DST; d++)
            if (n.dst[d] >= 0 && ad.grad[n.dst[d]] != -1)
                any = 1;
        if (!any)
            continue;
        const difu_op_def *def = difu_op_get(n.op);
        if (!def->grad) {
            difu_graph_fail(g, DIFU_ERR_UNSUPPORTED, "autodiff: node %d '%s' %s has no rule", i,
                            n.name, def->name);
            break;
        }
        if (def->grad(&ad, &n) != DIFU_OK || grow(&ad, &cap) != 0) {
            difu_graph_fail(g, DIFU_ERR_NO_MEMORY, "autodiff: out of memory");
            break;
        }
    }
    /* Parameter gradients into the gradient block. A gradient tensor already claimed by another
     * parameter, or one that is not an activation (cannot happen today), gets a copy. */
    int n_before = g->n_tensors;
    for (int p = 0; p < n_before && g->status == DIFU_OK; p++) {
        if (g->tensors[p].kind != DIFU_T_PARAM)
            continue;
        char name[DIFU_NAME_LEN];
        snprintf(name, sizeof name, "%.58s/grad", g->tensors[p].name);
        int gt = ad.grad[p];
        if (gt == -1) {
            const difu_gtensor *pt = &g->tensors[p];
            int ip[5] = {pt->ndim, 0, 0, 0, 0};
            for (int d = 0; d < pt->ndim; d++)
                ip[1 + d] = (int)pt->shape[d];
            float zero = 0.0f;
            gt = difu_g_node(g, DIFU_OP_FILL, name, NULL, 0, ip, 5, &zero, 1);
        } else if (g->tensors[gt].kind != DIFU_T_ACT) {
            gt = difu_g_node(g, DIFU_OP_COPY, name, &gt, 1, NULL, 0, NULL, 0);
        }
        if (gt < 0)
            break;
        g->tensors[gt].kind = DIFU_T_GRAD;
        g->tensors[gt].grad_of = p;
        g->tensors[gt].offset = g->tensors[p].offset;
        snprintf(g->tensors[gt].name, sizeof g->tensors[gt].name, "%s", name);
    }
    free(ad.grad);
    return g->status;
}
