/* onednn_conv.h: the oneDNN convolution backend (engine/onednn_conv.c), or its absence
 * (engine/onednn_none.c) in builds without oneDNN. Same contract as the difu_conv2d_* ops. */
#ifndef DIFU_ONEDNN_CONV_H
#define DIFU_ONEDNN_CONV_H

#include "engine_internal.h"

/* 1 when this build links oneDNN. */
int difu_onednn_available(void);
/* Frees the engine's primitive cache (e->onednn); safe when there is none. */
void difu_onednn_release(difu_engine *e);

difu_status difu_onednn_conv2d_forward(difu_engine *e, const difu_conv2d_desc *d, const float *x,
                                       const float *weight, const float *bias, float *y);
difu_status difu_onednn_conv2d_backward_data(difu_engine *e, const difu_conv2d_desc *d,
                                             const float *dy, const float *weight, float *dx);
difu_status difu_onednn_conv2d_backward_weights(difu_engine *e, const difu_conv2d_desc *d,
                                                const float *x, const float *dy, float *dweight,
                                                float *dbias);

#endif /* DIFU_ONEDNN_CONV_H */
