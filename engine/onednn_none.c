/* onednn_none.c: the oneDNN backend in a build without oneDNN: every call says so. */
#include "onednn_conv.h"

int difu_onednn_available(void) { return 0; }
void difu_onednn_release(difu_engine *e) { (void)e; }
const char *difu_onednn_version(void) { return "not built"; }

static difu_status not_built(difu_engine *e)
{
    return difu_fail(e, DIFU_ERR_UNSUPPORTED, "conv2d: this build has no oneDNN backend");
}

difu_status difu_onednn_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                       const float *weight, const float *bias, float *y)
{
    (void)d; (void)x; (void)weight; (void)bias; (void)y;
    return not_built(e);
}

difu_status difu_onednn_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d,
                                             const float *dy, const float *weight, float *dx)
{
    (void)d; (void)dy; (void)weight; (void)dx;
    return not_built(e);
}

difu_status difu_onednn_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d,
                                                const float *x, const float *dy, float *dweight,
                                                float *dbias)
{
    (void)d; (void)x; (void)dy; (void)dweight; (void)dbias;
    return not_built(e);
}

difu_status difu_onednn_conv2d_time(difu_engine *e, const difu_conv2d_desc *d, int which, int reps,
                                    double *median_ms_primitive, double *median_ms_with_reorders)
{
    (void)d; (void)which; (void)reps; (void)median_ms_primitive; (void)median_ms_with_reorders;
    return not_built(e);
}

const char *difu_onednn_impl_name(difu_engine *e, const difu_conv2d_desc *d, int which)
{
    (void)e; (void)d; (void)which;
    return "unknown";
}

int difu_onednn_cache_size(const difu_engine *e) { (void)e; return 0; }
int difu_onednn_cache_capacity(void) { return 0; }
uint64_t difu_onednn_cache_last_id(const difu_engine *e) { (void)e; return 0; }
