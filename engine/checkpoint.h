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

/* Writes the model config, blocks (each tensor of m under prefix + name, from data laid out like
 * difu_model_params(m)), extras and the caller's metadata (keys must not be one of difu's own
 * listed above) atomically to path. Tensor names must be unique across blocks and extras.
 * Failures (DIFU_ERR_IO: folder missing or read-only, disk full, RLIMIT_FSIZE...) keep the
 * previous file. */
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
 * res blocks, attention, classes) with the GroupNorm rule of a preset of the same structure.
 * Same as difu_checkpoint_config_for(c, 0, cfg). */
difu_status difu_checkpoint_config(difu_checkpoint *c, difu_model_config *cfg);
/* img_size > 0: the input size to assume when the config must be inferred (attention
 * resolutions depend on it; e.g. the batch's H). 0: a preset's size when the structure matches
 * one, else 28. Ignored when the file has "difu.config". */
difu_status difu_checkpoint_config_for(difu_checkpoint *c, int img_size, difu_model_config *cfg);
/* Whether the config comes from "difu.config" (1) or must be inferred from shapes (0). */
int difu_checkpoint_has_config(const difu_checkpoint *c);

/* Copies the tensors under `prefix` into `block` (laid out like difu_model_params of m; NULL
 * means m's own parameters). Every tensor of the model must be present as F32 with its shape;
 * the message names the first missing, misshapen or mistyped tensor. */
difu_status difu_checkpoint_load_block(difu_checkpoint *c, difu_model *m, const char *prefix,
                                       float *block);

/* Whether any tensor name starts with prefix (e.g. "ema."). */
int difu_checkpoint_has_prefix(const difu_checkpoint *c, const char *prefix);
/* The underlying file, for extras: difu_st_find / difu_st_data / difu_st_meta_get. */
const difu_safetensors *difu_checkpoint_file(const difu_checkpoint *c);
/* The path given to difu_checkpoint_open. */
const char *difu_checkpoint_path(const difu_checkpoint *c);

/* The digests stored in s's "difu.xxh3" (absent: *has_digests = 0, OK). digest[i] and present[i]
 * (arrays of s->n_tensors) get tensor i's stored digest and whether there is one. A malformed
 * value or a digest for a tensor the file lacks is DIFU_ERR_FORMAT naming source and the tensor. */
difu_status difu_checkpoint_stored_digests(difu_engine *e, const difu_safetensors *s,
                                           const char *source, uint64_t *digest, int *present,
                                           int *has_digests);

/* Fails early (DIFU_ERR_IO, naming the folder) unless a checkpoint can be written at path:
 * call it before a long run so a missing or read-only folder is reported at once. */
difu_status difu_checkpoint_check_writable(difu_engine *e, const char *path);

#endif /* DIFU_CHECKPOINT_H */
