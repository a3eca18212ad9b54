/* model_internal.h: what the trainer asks of a model beyond difu.h (internal; model.c). */
#ifndef DIFU_MODEL_INTERNAL_H
#define DIFU_MODEL_INTERNAL_H

#include <stddef.h>

#include "difu.h"

/* With on, difu_model_forward_backward runs its graph checked (difu_graph_run_checked): every
 * node's outputs, forward and backward, are scanned for NaN and infinity right after the node
 * runs, and the run stops at the first one found; *loss is then NaN, the gradient block only
 * partly written and eps (when asked for) NaN. Off by default; results are the same bits. */
void difu_model_set_detect_anomaly(difu_model *m, int on);
/* After a checked difu_model_forward_backward: 1 when it met a non-finite value, with its
 * description (difu_anomaly_describe: node, op, forward or whose gradient, element) in buf;
 * else 0. */
int difu_model_anomaly(const difu_model *m, char *buf, size_t len);

/* Frees the kept Winograd weights now (difu_model_set_weight_cache stays as it was: the next
 * forward keeps them again when on). The trainer drops them after a preview grid, whose weights
 * are gone by the next step. */
void difu_model_release_weight_cache(difu_model *m);

#endif /* DIFU_MODEL_INTERNAL_H */
