/* conv_choice.h: which convolution implementation runs a graph's conv nodes (internal).
 * With DIFU_CONV_ONEDNN every conv node runs on oneDNN; with DIFU_CONV_AUTO each distinct problem
 * (direction, shape, bias, threads, ISA) is timed once, native against oneDNN, when a plan is
 * made, and the faster one is kept in the engine's cache, found again by an XXH3-64 of the
 * problem: later plans (another batch size, another model) reuse the decision. */
#ifndef DIFU_CONV_CHOICE_H
#define DIFU_CONV_CHOICE_H

#include <stdint.h>

#include "engine_internal.h"

typedef enum difu_conv_dir {
    DIFU_CONV_DIR_FWD = 0,
    DIFU_CONV_DIR_BWD_DATA,
    DIFU_CONV_DIR_BWD_WEIGHTS,
    DIFU_CONV_DIR_COUNT
} difu_conv_dir;

/* "fwd", "bwd_data", "bwd_weights" */
const char *difu_conv_dir_name(difu_conv_dir d);

/* What a decision depends on. Hashed as raw bytes: all fields int32, no padding. */
typedef struct difu_conv_problem {
    int32_t dir, has_bias, threads, isa;
    int32_t n, cin, h, w, cout, k, stride, pad;
} difu_conv_problem;

typedef struct difu_conv_choice {
    difu_conv_problem key;
    uint64_t hash;      /* XXH3-64 of key */
    int onednn;         /* 1: the problem runs on oneDNN */
    double native_ms;   /* medians measured when the choice was made */
    double onednn_ms;
} difu_conv_choice;

difu_conv_problem difu_conv_problem_make(const difu_engine *e, difu_conv_dir dir,
                                         const difu_conv2d_desc *d, int has_bias);
uint64_t difu_conv_problem_hash(const difu_conv_problem *p);
difu_conv2d_desc difu_conv_problem_desc(const difu_conv_problem *p);

/* The engine's decision for p, or NULL when there is none yet. */
const difu_conv_choice *difu_conv_choice_find(const difu_engine *e, const difu_conv_problem *p);
/* Keeps c (replacing an earlier decision for the same problem). */
difu_status difu_conv_choice_add(difu_engine *e, const difu_conv_choice *c);
/* The decisions made so far, in the order they were made (i in [0, count)). */
int difu_conv_choice_count(const difu_engine *e);
const difu_conv_choice *difu_conv_choice_at(const difu_engine *e, int i);
void difu_conv_choices_free(difu_engine *e);

#endif /* DIFU_CONV_CHOICE_H */
