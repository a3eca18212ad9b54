/* executor.c: runs a planned graph. The node sequence splits into segments: each run of native
 * nodes goes inside one OpenMP parallel region of e->threads threads, every node run by all
 * threads, each doing its share (the kernels' ith/nth contract), with a barrier after a node
 * unless the plan found the next node independent; a node the plan put on oneDNN (p->onednn) runs
 * between two regions, from the calling thread, since oneDNN opens its own. The same inputs, plan
 * and thread count give bit-identical results. No allocation happens here.
 * A checked run (difu_graph_run_checked) also scans every node's outputs for non-finite values
 * right after the node, before the planner's memory reuse can overwrite them. */
#include <omp.h>

#include "graph.h"

/* After node i on thread ith of nth: waits for every thread's share of the node, scans this
 * thread's share of its checked outputs, and returns nonzero (on every thread alike) when some
 * thread found a non-finite value; *found then holds the first one. */
static int check_node(const difu_plan *p, int i, int ith, int nth, difu_anomaly *found)
{
    if (nth > 1) {
#pragma omp barrier
    }
    const difu_node *n = &p->g->nodes[i];
    for (int d = 0; d < DIFU_NODE_MAX_DST; d++) {
        if (!difu_anomaly_checked(p, i, d))
            continue;
        double value = 0;
        int64_t at = difu_anomaly_scan(p, n->dst[d], ith, nth, &value);
        if (at < 0)
            continue;
#pragma omp critical(difu_anomaly)
        if (found->node < 0 || d < found->dst || (d == found->dst && at < found->index)) {
            found->node = i;
            found->dst = d;
            found->index = at;
            found->value = value;
        }
        break; /* later outputs of this node rank after this one */
    }
    if (nth > 1) {
#pragma omp barrier
    }
    return found->node >= 0;
}

/* Nodes [begin, end), all native, on thread ith of nth; with check, each node is checked and
 * the first one with a non-finite output ends the run. */
static void run_nodes(const difu_exec *x, const difu_plan *p, int begin, int end, void *scratch,
                      int ith, int nth, difu_anomaly *check)
{
    const difu_graph *g = p->g;
    for (int i = begin; i < end; i++) {
        const difu_node *n = &g->nodes[i];
        difu_op_get(n->op)->run(x, n, scratch, ith, nth);
        if (check) {
            if (check_node(p, i, ith, nth, check))
                break;
        } else if (p->barrier[i] && nth > 1 && i + 1 < end) {
#pragma omp barrier
        }
    }
}

/* One segment of native nodes [begin, end) in one parallel region. */
static void run_segment(difu_engine *e, const difu_exec *x, const difu_plan *p, int begin, int end,
                        difu_anomaly *check)
{
    if (e->threads == 1) {
        run_nodes(x, p, begin, end, difu_thread_scratch(e, 0), 0, 1, check);
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
            run_nodes(x, p, begin, end, difu_thread_scratch(e, ith), ith, nth, check);
        }
    }
    if (short_team)
        run_nodes(x, p, begin, end, difu_thread_scratch(e, 0), 0, 1, check);
}

/* The first tensor the plan reads or writes that is not bound (not in the arena and given no
 * buffer), or -1. */
static int unbound_tensor(const difu_plan *p)
{
    const difu_graph *g = p->g;
    for (int t = 0; t < g->n_tensors; t++)
        if (!p->ptr[t] && (p->first[t] >= 0 || p->last[t] >= 0) &&
            g->tensors[t].kind != DIFU_T_ACT)
            return t;
    return -1;
}

static difu_status run_graph(difu_engine *e, difu_plan *p, difu_anomaly *check)
{
    const difu_graph *g = p->g;
    difu_exec x = {g, &e->kernels, p->ptr, p->wino_u};
    int t = unbound_tensor(p);
    if (t >= 0)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "run: tensor '%s' (%s) is not bound",
                         g->tensors[t].name, difu_tkind_name(g->tensors[t].kind));
    for (int i = 0; i < g->n_nodes;) {
        if (p->onednn[i]) {
            difu_status s = difu_conv_node_onednn(e, &x, &g->nodes[i]);
            if (s != DIFU_OK)
                return s;
            if (check && check_node(p, i, 0, 1, check))
                return DIFU_OK;
            i++;
            continue;
        }
        int end = i + 1;
        while (end < g->n_nodes && !p->onednn[end])
            end++;
        run_segment(e, &x, p, i, end, check);
        if (check && check->node >= 0)
            return DIFU_OK;
        i = end;
    }
    return DIFU_OK;
}

difu_status difu_graph_run(difu_engine *e, difu_plan *p)
{
    return run_graph(e, p, NULL);
}

/* Whether every node of p is native and every tensor it needs is bound (else difu_graph_run,
 * which reports what is missing, takes it). */
static int runs_alone(const difu_plan *p)
{
    for (int i = 0; i < p->g->n_nodes; i++)
        if (p->onednn[i])
            return 0;
    return unbound_tensor(p) < 0;
}

difu_status difu_graph_run_parts(difu_engine *e, difu_plan *const *plans, int count)
{
    int alone = count == e->threads && count > 1;
    for (int i = 0; alone && i < count; i++)
        alone = runs_alone(plans[i]);
    int short_team = 0;
    if (alone) {
#pragma omp parallel num_threads(count)
        {
            int ith = omp_get_thread_num();
            if (omp_get_num_threads() != count) {
                if (ith == 0)
                    short_team = 1;
            } else {
                const difu_plan *p = plans[ith];
                difu_exec x = {p->g, &e->kernels, p->ptr, p->wino_u};
                run_nodes(&x, p, 0, p->g->n_nodes, difu_thread_scratch(e, ith), 0, 1, NULL);
            }
        }
    }
    for (int i = 0; (!alone || short_team) && i < count; i++) { /* one after another, teamed */
        difu_status s = difu_graph_run(e, plans[i]);
        if (s != DIFU_OK)
            return s;
    }
    return DIFU_OK;
}

difu_status difu_graph_run_checked(difu_engine *e, difu_plan *p, difu_anomaly *found)
{
    found->node = found->dst = -1;
    found->index = -1;
    found->value = 0;
    return run_graph(e, p, found);
}

/* Runs the graph once, node by node (a parallel region per native node), adding each node's wall
 * time in seconds to seconds[node]. For profiling only: slower than difu_graph_run. */
difu_status difu_graph_profile(difu_engine *e, difu_plan *p, double *seconds)
{
    difu_exec x = {p->g, &e->kernels, p->ptr, p->wino_u};
    for (int i = 0; i < p->g->n_nodes; i++) {
        double t0 = omp_get_wtime();
        if (p->onednn[i]) {
            difu_status s = difu_conv_node_onednn(e, &x, &p->g->nodes[i]);
            if (s != DIFU_OK)
                return s;
        } else {
            run_segment(e, &x, p, i, i + 1, NULL);
        }
        seconds[i] += omp_get_wtime() - t0;
    }
    return DIFU_OK;
}
