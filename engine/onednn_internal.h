/* onednn_internal.h: what the oneDNN backend's files share (onednn_cache.c builds and runs the
 * cached primitives, onednn_conv.c holds the ops, onednn_time.c the benchmark helpers). Only
 * these files include oneDNN's headers. */
#ifndef DIFU_ONEDNN_INTERNAL_H
#define DIFU_ONEDNN_INTERNAL_H

#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "onednn_conv.h"

/* fmnist-s training at one batch size has 65 distinct conv problems: room for a few models. */
#define DIFU_ONEDNN_CACHE_CAP 256

/* The three ops, in the order of the `which` argument (DIFU_ONEDNN_FWD, ...). */
typedef enum onednn_op {
    ONEDNN_OP_FWD,
    ONEDNN_OP_BWD_DATA,
    ONEDNN_OP_BWD_WEIGHTS,
    ONEDNN_OP_COUNT
} onednn_op;

/* "conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights": the op in messages. */
extern const char *const difu_onednn_op_names[ONEDNN_OP_COUNT];

/* What identifies a primitive: hashed as raw bytes, so all fields are int32 (no padding). */
typedef struct onednn_key {
    int32_t op, has_bias, threads;
    int32_t n, cin, h, w, cout, k, stride, pad;
} onednn_key;

/* One tensor argument of the convolution. */
typedef struct onednn_arg {
    int arg;                  /* DNNL_ARG_*; 0 when the problem has no such argument */
    int is_output;
    dnnl_memory_t user;       /* over the caller's buffer; its handle is set on every call */
    dnnl_memory_t prim;       /* in the primitive's layout; == user when the layouts agree */
    dnnl_primitive_t reorder; /* user -> prim for inputs, prim -> user for outputs, or NULL */
    difu_arena buf;           /* prim's buffer when it is not user's */
} onednn_arg;

/* Arguments in order: two inputs, the output, then the bias (fwd) or dbias (bwd-weights).
 * fwd: x, weight, y, bias; bwd-data: dy, weight, dx; bwd-weights: x, dy, dweight, dbias. */
enum { ONEDNN_IN0, ONEDNN_IN1, ONEDNN_OUT, ONEDNN_BIAS, ONEDNN_ARGS };

/* One cached problem: its primitive, reorders, blocked buffers and scratchpad. */
typedef struct onednn_entry {
    onednn_key key;
    uint64_t hash;
    uint64_t id;       /* creation serial, from 1 */
    uint64_t last_use; /* for LRU eviction */
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    onednn_arg args[ONEDNN_ARGS];
    dnnl_memory_t scratch_mem;
    difu_arena scratch;
} onednn_entry;

/* e->onednn: the oneDNN engine and stream, and the cache. */
typedef struct onednn_state {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    onednn_entry *entries[DIFU_ONEDNN_CACHE_CAP];
    int count;
    uint64_t clock; /* bumped on every use */
    uint64_t next_id;
    uint64_t last_id;
} onednn_state;

static inline int difu_onednn_out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* Records "<op> (oneDNN): <call> failed (<status>) for n=.. cin=.. ..." and returns the matching
 * difu_status. */
difu_status difu_onednn_fail(difu_engine *e, const onednn_key *k, const char *call,
                             dnnl_status_t st);

/* Runs a dnnl call; on failure records a message naming the call and the problem, sets `status`
 * and jumps to `fail`. Needs `e`, `key` (const onednn_key *) and `status` in scope. */
#define DNNL_CHECK(fn, ...)                                                                        \
    do {                                                                                           \
        dnnl_status_t st_ = fn(__VA_ARGS__);                                                       \
        if (st_ != dnnl_success) {                                                                 \
            status = difu_onednn_fail(e, key, #fn, st_);                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Checks a descriptor for op (the rules of engine/ops/conv2d.c); which-checks for the helpers. */
difu_status difu_onednn_check_desc(difu_engine *e, onednn_op op, const difu_conv2d_desc *d);
difu_status difu_onednn_check_which(difu_engine *e, const difu_conv2d_desc *d, int which);

onednn_key difu_onednn_make_key(const difu_engine *e, onednn_op op, const difu_conv2d_desc *d,
                                int has_bias);

/* The entry for key: found by hash and key, or created (evicting the least recently used one
 * when the cache is full). Call between threads_enter and threads_leave. */
difu_status difu_onednn_cache_get(difu_engine *e, const onednn_key *key, onednn_state **state,
                                  onednn_entry **out);
/* Runs the bare primitive on the entry's memories (blocked buffers, or the user's). */
difu_status difu_onednn_entry_exec(difu_engine *e, onednn_state *s, onednn_entry *ent);
/* The whole call: points the user memories at buffers[ONEDNN_IN0..ONEDNN_BIAS], reorders the
 * inputs in, runs, reorders the outputs back, waits. */
difu_status difu_onednn_entry_run(difu_engine *e, onednn_state *s, onednn_entry *ent,
                                  void *const buffers[ONEDNN_ARGS]);

/* oneDNN's OpenMP runtime sizes its parallel regions from the calling thread's max-threads ICV,
 * both when a primitive is created (its blocking choices) and when it runs: every oneDNN call
 * runs between threads_enter, which sets the ICV to the engine's thread count and returns the
 * caller's value, and threads_leave, which restores it. */
int difu_onednn_threads_enter(const difu_engine *e);
void difu_onednn_threads_leave(int saved);

#endif /* DIFU_ONEDNN_INTERNAL_H */
