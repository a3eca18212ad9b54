/* executor.c: runs a planned graph: one OpenMP parallel region of e->threads threads around the
 * whole node loop; every node is run by all threads, each doing its share (the kernels' ith/nth
 * contract), with a barrier after a node unless the plan found the next node independent. The
 * same inputs and thread count give bit-identical results. No allocation happens here. */
#include <omp.h>

#include "graph.h"

static void run_nodes(const difu_exec *x, const difu_plan *p, void *scratch, int ith, int nth)
{
    const difu_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const difu_node *n = &g->nodes[i];
        difu_op_get(n->op)->run(x, n, scratch, ith, nth);
        if (p->barrier[i] && nth > 1) {
#pragma omp barrier
        }
    }
}

difu_status difu_graph_run(difu_engine *e, difu_plan *p)
{
    difu_exec x = {p->g, &e->kernels, p->ptr};
    for (int t = 0; t < p->g->n_tensors; t++)
        if (!p->ptr[t] && (p->first[t] >= 0 || p->last[t] >= 0) &&
            p->g->tensors[t].kind != DIFU_T_ACT)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "run: tensor '%s' (%s) is not bound",
                             p->g->tensors[t].name, difu_tkind_name(p->g->tensors[t].kind));
    if (e->threads == 1) {
        run_nodes(&x, p, difu_thread_scratch(e, 0), 0, 1);
        return DIFU_OK;
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
            run_nodes(&x, p, difu_thread_scratch(e, ith), ith, nth);
        }
    }
    if (short_team)
        run_nodes(&x, p, difu_thread_scratch(e, 0), 0, 1);
    return DIFU_OK;
}

/* Runs the graph once, node by node (a parallel region per node), adding each node's wall time
 * in seconds to seconds[node]. For profiling only: slower than difu_graph_run. */
difu_status difu_graph_profile(difu_engine *e, difu_plan *p, double *seconds)
{
    difu_exec x = {p->g, &e->kernels, p->ptr};
    for (int i = 0; i < p->g->n_nodes; i++) {
        const difu_node *n = &p->g->nodes[i];
        const difu_op_def *def = difu_op_get(n->op);
        double t0 = omp_get_wtime();
#pragma omp parallel num_threads(e->threads)
        def->run(&x, n, difu_thread_scratch(e, omp_get_thread_num()), omp_get_thread_num(),
                 omp_get_num_threads());
        seconds[i] += omp_get_wtime() - t0;
    }
    return DIFU_OK;
}
