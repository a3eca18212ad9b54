/* onednn_conv.c: the oneDNN convolution backend: the difu_conv2d_* contract (argument checks
 * with messages, then the problem's cached primitive from onednn_cache.c, run with the engine's
 * thread count), the library version, and oneDNN's implementation name for a problem.
 * The engine's ISA cap does not reach oneDNN: its cap (ONEDNN_MAX_CPU_ISA) is process-wide. */
#include <stdio.h>
#include <stdint.h>

#include "onednn_internal.h"

/* ---------------------------------------------------------------- argument checks */

/* Checks the descriptor for op (the same rules as engine/ops/conv2d.c). */
difu_status difu_onednn_check_desc(difu_engine *e, onednn_op op, const difu_conv2d_desc *d)
{
    const char *name = difu_onednn_op_names[op];
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (!d)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: the descriptor is NULL", name);
    if (d->n < 1 || d->cin < 1 || d->h < 1 || d->w < 1 || d->cout < 1)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: sizes must be at least 1, got n=%d cin=%d h=%d w=%d cout=%d", name,
                         d->n, d->cin, d->h, d->w, d->cout);
    int ok = (d->k == 3 && d->stride == 1 && d->pad == 1) ||
             (d->k == 3 && d->stride == 2 && d->pad == 1) ||
             (d->k == 1 && d->stride == 1 && d->pad == 0);
    if (!ok)
        return difu_fail(e, DIFU_ERR_UNSUPPORTED,
                         "%s: k=%d stride=%d pad=%d is not supported (k=3 s1 p1, k=3 s2 p1, "
                         "k=1 s1 p0)",
                         name, d->k, d->stride, d->pad);
    /* Keep every tensor well inside int64 and oneDNN's limits. */
    double limit = (double)(1ull << 40);
    double oh = difu_onednn_out_size(d->h, d->k, d->stride, d->pad),
           ow = difu_onednn_out_size(d->w, d->k, d->stride, d->pad);
    if ((double)d->n * d->cin * d->h * d->w > limit || (double)d->n * d->cout * oh * ow > limit ||
        (double)d->cout * d->cin * d->k * d->k > limit)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "%s: n=%d cin=%d h=%d w=%d cout=%d is too large (over 2^40 elements)",
                         name, d->n, d->cin, d->h, d->w, d->cout);
    return DIFU_OK;
}

/* check_desc, then the three required buffers. */
static difu_status check_args(difu_engine *e, onednn_op op, const difu_conv2d_desc *d,
                              const void *in0, const char *in0_name, const void *in1,
                              const char *in1_name, const void *out, const char *out_name)
{
    difu_status status = difu_onednn_check_desc(e, op, d);
    if (status != DIFU_OK)
        return status;
    if (!in0 || !in1 || !out)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: %s is NULL", difu_onednn_op_names[op],
                         !in0   ? in0_name
                         : !in1 ? in1_name
                                : out_name);
    return DIFU_OK;
}

static difu_status conv_call(difu_engine *e, const onednn_key *key,
                             void *const buffers[ONEDNN_ARGS])
{
    int saved = difu_onednn_threads_enter(e);
    onednn_state *s = NULL;
    onednn_entry *ent = NULL;
    difu_status status = difu_onednn_cache_get(e, key, &s, &ent);
    if (status == DIFU_OK)
        status = difu_onednn_entry_run(e, s, ent, buffers);
    difu_onednn_threads_leave(saved);
    return status;
}

/* oneDNN reads inputs through non-const handles; it does not write them. */
static void *in_ptr(const float *p) { return (void *)(uintptr_t)p; }

/* ---------------------------------------------------------------- public functions */

int difu_onednn_available(void) { return 1; }

const char *difu_onednn_version(void)
{
    static char text[32]; /* the same text on every call */
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

difu_status difu_onednn_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                       const float *weight, const float *bias, float *y)
{
    difu_status status = check_args(e, ONEDNN_OP_FWD, d, x, "x", weight, "weight", y, "y");
    if (status != DIFU_OK)
        return status;
    onednn_key key = difu_onednn_make_key(e, ONEDNN_OP_FWD, d, bias != NULL);
    void *buffers[ONEDNN_ARGS] = {in_ptr(x), in_ptr(weight), y, in_ptr(bias)};
    return conv_call(e, &key, buffers);
}

difu_status difu_onednn_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d,
                                             const float *dy, const float *weight, float *dx)
{
    difu_status status = check_args(e, ONEDNN_OP_BWD_DATA, d, dy, "dy", weight, "weight", dx, "dx");
    if (status != DIFU_OK)
        return status;
    onednn_key key = difu_onednn_make_key(e, ONEDNN_OP_BWD_DATA, d, 0);
    void *buffers[ONEDNN_ARGS] = {in_ptr(dy), in_ptr(weight), dx, NULL};
    return conv_call(e, &key, buffers);
}

difu_status difu_onednn_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d,
                                                const float *x, const float *dy, float *dweight,
                                                float *dbias)
{
    difu_status status =
        check_args(e, ONEDNN_OP_BWD_WEIGHTS, d, x, "x", dy, "dy", dweight, "dweight");
    if (status != DIFU_OK)
        return status;
    onednn_key key = difu_onednn_make_key(e, ONEDNN_OP_BWD_WEIGHTS, d, dbias != NULL);
    void *buffers[ONEDNN_ARGS] = {in_ptr(x), in_ptr(dy), dweight, dbias};
    return conv_call(e, &key, buffers);
}

/* ---------------------------------------------------------------- benchmark support */

difu_status difu_onednn_check_which(difu_engine *e, const difu_conv2d_desc *d, int which)
{
    if (!e)
        return DIFU_ERR_INVALID_ARG;
    if (which < 0 || which >= ONEDNN_OP_COUNT)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "onednn: which=%d is not 0 (forward), 1 (backward-data) or "
                         "2 (backward-weights)",
                         which);
    return difu_onednn_check_desc(e, (onednn_op)which, d);
}

const char *difu_onednn_impl_name(difu_engine *e, const difu_conv2d_desc *d, int which)
{
    if (difu_onednn_check_which(e, d, which) != DIFU_OK)
        return "unknown";
    onednn_key key = difu_onednn_make_key(e, (onednn_op)which, d, which != ONEDNN_OP_BWD_DATA);
    int saved = difu_onednn_threads_enter(e);
    onednn_state *s = NULL;
    onednn_entry *ent = NULL;
    const char *name = NULL;
    if (difu_onednn_cache_get(e, &key, &s, &ent) != DIFU_OK ||
        dnnl_primitive_desc_query(ent->pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success ||
        !name)
        name = "unknown";
    difu_onednn_threads_leave(saved);
    return name;
}
