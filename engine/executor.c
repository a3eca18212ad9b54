/* executor.c: runs a planned graph. The node sequence splits into segments: each run of native
 * nodes goes inside one OpenMP parallel region of e->threads threads, every node run by all
 * threads, each doing its share (the kernels' ith/nth contract), with a barrier after a node
 * unless the plan found the next node independent; a node the plan put on oneDNN (p->onednn) runs
 * between two regions, from the calling thread, since oneDNN opens its own. The same inputs, plan
 * and thread count give bit-identical results. No allocation happens here. */
#include <omp.h>

#include "graph.h"

/* Nodes [begin, end), all native, on thread ith of nth. */
static void run_nodes(const difu_exec *x, const difu_plan *p, int begin, int end, void *scratch,
                      int ith, int nth)
{
    const difu_graph *g = p->g;
    for (int i = begin; i < end; i++) {
        const difu_node *n = &g->nodes[i];
        difu_op_get(n->op)->run(x, n, scratch, ith, nth);
        if (p->barrier[i] && nth > 1 && i + 1 < end) {
#pragma omp barrier
        }
    }
}

/* One segment of native nodes [begin, end) in one parallel region. */
static void run_segment(difu_engine *e, const difu_exec *x, const difu_plan *p, int begin, int end)
{
    if (e->threads == 1) {
        run_nodes(x, p, begin, end, difu_thread_scratch(e, 0), 0, 1);
        return;
    }
    int short_team = 0;
#pragma omp parallel num_threads(e->threads)
    {
        int ith = omp_get_thread_num(), nth = omp_get_num_threads();
        if (nth != e->threads) {
            /* A nested or limited runtime gave a smaller team: run it single-threaded instead of
             * splitting differently (results must not depend on what the runtime grants). */
            if (ith == 0)
                short_team = 1;
        } else {
            run_nodes(x, p, begin, end, difu_thread_scratch(e, ith), ith, nth);
        }
    }
    if (short_team)
        run_nodes(x, p, begin, end, difu_thread_scratch(e, 0), 0, 1);
}

difu_status difu_graph_run(difu_engine *e, difu_plan *p)
{
    const difu_graph *g = p->g;
    difu_exec x = {g, &e->kernels, p->ptr};
    for (int t = 0; t < g->n_tensors; t++)
        if (!p->ptr[t] && (p->first[t] >= 0 || p->last[t] >= 0) &&
            g->tensors[t].kind != DIFU_T_ACT)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "run: tensor '%s' (%s) is not bound",
                             g->tensors[t].name, difu_tkind_name(g->tensors[t].kind));
    for (int i = 0; i < g->n_nodes;) {
        if (p->onednn[i]) {
            difu_status s = difu_conv_node_onednn(e, &x, &g->nodes[i]);
            if (s != DIFU_OK)
                return s;
            i++;
            continue;
        }
        int end = i + 1;
        while (end < g->n_nodes && !p->onednn[end])
            end++;
        run_segment(e, &x, p, i, end);
        i = end;
    }
    return DIFU_OK;
}

/* Runs the graph once, node by node (a parallel region per native node), adding each node's wall
 * time in seconds to seconds[node]. For profiling only: slower than difu_graph_run. */
difu_status difu_graph_profile(difu_engine *e, difu_plan *p, double *seconds)
{
    difu_exec x = {p->g, &e->kernels, p->ptr};
    for (int i = 0; i < p->g->n_nodes; i++) {
        double t0 = omp_get_wtime();
        if (p->onednn[i]) {
            difu_status s = difu_conv_node_onednn(e, &x, &p->g->nodes[i]);
            if (s != DIFU_OK)
                return s;
        } else {
            run_segment(e, &x, p, i, i + 1);
        }
        seconds[i] += omp_get_wtime() - t0;
    }
    return DIFU_OK;
}
