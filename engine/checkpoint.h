/* checkpoint.h: difu checkpoints in the safetensors format (internal API; the `checkpoint` helper
 * implements it in engine/checkpoint.c; the trainer and the CLI use it).
 *
 * A checkpoint holds the model's parameters under the key-list names in PyTorch layouts (so
 * PyTorch loads them), optional parameter-shaped blocks under a prefix ("ema.", "adam.m.",
 * "adam.v."), optional extra tensors (trainer state: "train.step", RNG and data positions...),
 * and metadata: "difu.format" = "1", "difu.config" (JSON, the schema of tools/pytorch/README.md),
 * "difu.img_size", "difu.in_ch", "difu.xxh3" (JSON object {tensor name: 16 hex digits of the
 * XXH3-64 of its bytes}) and the caller's own key/values. Writes are atomic: a temporary file in
 * the same folder, fsync, rename, fsync of the folder; a failure leaves the previous file intact
 * and no temporary behind. */
#ifndef DIFU_CHECKPOINT_H
#define DIFU_CHECKPOINT_H

#include "difu.h"
#include "safetensors.h"

/* A block laid out like the model's parameter block (difu_model_params), saved under prefix. */
typedef struct difu_ckpt_block {
    const char *prefix; /* "" for the model weights themselves, "ema.", "adam.m.", ... */
    const float *data;
} difu_ckpt_block;

/* Any other tensor. */
typedef struct difu_ckpt_tensor {
    const char *name;
    difu_st_dtype dtype;
    int ndim;
    int64_t shape[DIFU_ST_MAX_DIMS];
    const void *data;
} difu_ckpt_tensor;

typedef struct difu_ckpt_meta {
    const char *key, *value;
} difu_ckpt_meta;

difu_status difu_checkpoint_save(difu_engine *e, const char *path, difu_model *m,
                                 const difu_ckpt_block *blocks, int n_blocks,
                                 const difu_ckpt_tensor *extras, int n_extras,
                                 const difu_ckpt_meta *meta, int n_meta);

typedef struct difu_checkpoint difu_checkpoint;

/* Reads a checkpoint and verifies every digest in "difu.xxh3" (a mismatch is DIFU_ERR_FORMAT
 * naming the tensor). Files without difu metadata (a PyTorch state_dict) are accepted. */
difu_status difu_checkpoint_open(difu_engine *e, const char *path, difu_checkpoint **out);
void difu_checkpoint_close(difu_checkpoint *c);

/* The model config: from "difu.config", or inferred from the tensor shapes (widths, levels,
 * res blocks, attention, classes) with the GroupNorm rule of a preset of the same structure. */
difu_status difu_checkpoint_config(difu_checkpoint *c, difu_model_config *cfg);

/* Copies the tensors under `prefix` into `block` (laid out like difu_model_params of m; NULL
 * means m's own parameters). Every tensor of the model must be present as F32 with its shape;
 * the message names the first missing, misshapen or mistyped tensor. */
difu_status difu_checkpoint_load_block(difu_checkpoint *c, difu_model *m, const char *prefix,
                                       float *block);

/* Whether any tensor name starts with prefix (e.g. "ema."). */
int difu_checkpoint_has_prefix(const difu_checkpoint *c, const char *prefix);
/* The underlying file, for extras: difu_st_find / difu_st_data / difu_st_meta_get. */
const difu_safetensors *difu_checkpoint_file(const difu_checkpoint *c);

#endif /* DIFU_CHECKPOINT_H */
