/* timestep_emb.c: graph op sinusoidal timestep embedding (MODEL.md): t I64 [N] -> [N,dim],
 * half = dim/2, freq_i = exp(-ln(10000) i / (half - 1)), row = [sin(t freq), cos(t freq)] (sin
 * half first). Computed in double and rounded to float, as the PyTorch reference does. Not
 * differentiable (its input is an integer). */
#include <math.h>
#include <stdio.h>

#include "graph.h"

static int temb_infer(const difu_graph *g, const difu_node *n, difu_tshape *out, char *msg,
                      size_t len)
{
    if (difu_check_tensor(g, n->src[0], "timesteps", DIFU_I64, 1, msg, len))
        return 1;
    int dim = n->ip[0];
    if (dim < 4 || dim % 2 != 0) {
        snprintf(msg, len, "dim %d must be even and at least 4", dim);
        return 1;
    }
    int64_t shape[2] = {g->tensors[n->src[0]].shape[0], dim};
    difu_tshape_set(&out[0], DIFU_F32, 2, shape);
    return 0;
}

static void temb_run(const difu_exec *x, const difu_node *n, void *scratch, int ith, int nth)
{
    int64_t rows = difu_x_t(x, n->src[0])->shape[0], r0, r1;
    int half = n->ip[0] / 2;
    difu_split(rows, ith, nth, &r0, &r1);
    const int64_t *t = (const int64_t *)x->ptr[n->src[0]];
    float *y = difu_x_f32(x, n->dst[0]);
    for (int64_t r = r0; r < r1; r++)
        for (int i = 0; i < half; i++) {
            double freq = exp(-log(10000.0) * i / (half - 1));
            double arg = (double)t[r] * freq;
            y[r * 2 * half + i] = (float)sin(arg);
            y[r * 2 * half + half + i] = (float)cos(arg);
        }
}

static difu_status temb_grad(difu_autodiff *ad, const difu_node *n) { return DIFU_OK; }

static int none_missing(const difu_kernels *k) { return 0; }

const difu_op_def difu_op_timestep_emb = {"timestep_emb", 1, 1, temb_infer, temb_run, temb_grad,
                                          none_missing};
