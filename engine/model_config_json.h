/* model_config_json.h: difu_model_config <-> the "difu.config" JSON of tools/pytorch/README.md
 * (internal). The encoder writes exactly what tools/pytorch/unet.py's UNetConfig.to_json() writes
 * for the same config (compact, keys in schema order); the decoder reads what it writes. */
#ifndef DIFU_MODEL_CONFIG_JSON_H
#define DIFU_MODEL_CONFIG_JSON_H

#include "engine_internal.h"

/* The JSON text of c in *out (malloc'd; the caller frees it). Fails only when out of memory or
 * when a count (n_levels, n_attn_res, n_groups) is outside [0, DIFU_MODEL_MAX_LEVELS]. */
difu_status difu_model_config_to_json(difu_engine *e, const difu_model_config *c, char **out);

/* Parses the JSON into *out (written only on success). Every schema key is required, unknown
 * keys are refused, "num_classes" may be null (= 0); values must be integers where the schema
 * says int. The config is then checked with difu_model_config_check. Messages start with
 * "difu.config: " and name the key. */
difu_status difu_model_config_from_json(difu_engine *e, const char *json, difu_model_config *out);

#endif /* DIFU_MODEL_CONFIG_JSON_H */
