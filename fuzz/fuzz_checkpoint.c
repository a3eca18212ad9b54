/* fuzz_checkpoint.c: the checkpoint open path on arbitrary files: difu_checkpoint_open (read,
 * "difu.xxh3" digests), the model config from "difu.config" or inferred from the tensor shapes
 * (at the default and an explicit image size), and, when the config describes a small model,
 * creating it and loading the weight and EMA blocks, difu_load_model (the sampler's loader) and
 * difu_train_params_from_checkpoint (--resume). The input is written to a scratch file first:
 * these entry points take paths. */
#include "fuzz_util.h"
#include "checkpoint.h"

/* Only models this small are built (a hostile config could ask for gigabytes). */
static int small_config(const difu_model_config *c)
{
    int wide = 0;
    for (int l = 0; l < c->n_levels; l++)
        wide = c->ch_mult[l] > wide ? c->ch_mult[l] : wide;
    return c->ch <= 16 && (int64_t)c->ch * wide <= 64 && c->img_size <= 16 && c->n_levels <= 3 &&
           c->num_res_blocks <= 2 && c->num_classes <= 16 && c->in_ch <= 3;
}

static void try_config(difu_engine *e, difu_checkpoint *c, int img_size)
{
    difu_model_config cfg;
    if (difu_checkpoint_config_for(c, img_size, &cfg) != DIFU_OK) {
        fuzz_check_message(difu_engine_last_error(e));
        return;
    }
    FUZZ_CHECK(difu_model_config_check(e, &cfg) == DIFU_OK, "config from the file fails its check: %s",
               difu_engine_last_error(e));
    if (!small_config(&cfg))
        return;
    difu_model *m = NULL;
    if (difu_model_create(e, &cfg, 0, &m) != DIFU_OK) {
        fuzz_check_message(difu_engine_last_error(e));
        return;
    }
    size_t n = 0;
    float *own = difu_model_params(m, &n);
    float *block = malloc((n ? n : 1) * sizeof *block);
    FUZZ_CHECK(block, "out of memory");
    if (difu_checkpoint_load_block(c, m, "", NULL) == DIFU_OK) {
        /* what was loaded is the file's bytes */
        const difu_safetensors *f = difu_checkpoint_file(c);
        const char *name = difu_model_tensor_info(m, 0, NULL, NULL);
        const difu_st_tensor *t = difu_st_find(f, name);
        difu_tensor v;
        FUZZ_CHECK(t && difu_model_param(m, name, &v) == DIFU_OK &&
                   memcmp(v.data, difu_st_data(f, t), t->end - t->begin) == 0,
                   "tensor '%s' was not loaded as stored", name);
    } else {
        fuzz_check_message(difu_engine_last_error(e));
    }
    if (difu_checkpoint_has_prefix(c, "ema.") &&
        difu_checkpoint_load_block(c, m, "ema.", block) != DIFU_OK)
        fuzz_check_message(difu_engine_last_error(e));
    (void)own;
    free(block);
    difu_model_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    difu_engine *e = fuzz_engine();
    char path[512];
    fuzz_path(path, sizeof path, "ckpt.safetensors");
    fuzz_write(path, data, size);
    difu_checkpoint *c = (difu_checkpoint *)1;
    if (difu_checkpoint_open(e, path, &c) != DIFU_OK) {
        FUZZ_CHECK(c == NULL, "failure left an output");
        fuzz_check_message(difu_engine_last_error(e));
        return 0;
    }
    FUZZ_CHECK(strcmp(difu_checkpoint_path(c), path) == 0, "path");
    (void)difu_checkpoint_has_config(c);
    try_config(e, c, 0);
    try_config(e, c, 8);
    difu_model_config cfg;
    int small = difu_checkpoint_config(c, &cfg) == DIFU_OK && small_config(&cfg);
    difu_checkpoint_close(c);

    if (small) {
        difu_model *m = NULL;
        difu_ckpt_info info;
        if (difu_load_model(e, path, -1, &m, &info) == DIFU_OK) {
            FUZZ_CHECK(info.T >= 2 && info.schedule >= 0 && info.schedule < DIFU_SCHEDULE_COUNT,
                       "T %d schedule %d", info.T, (int)info.schedule);
            difu_model_destroy(m);
        } else {
            fuzz_check_message(difu_engine_last_error(e));
        }
    }
    difu_train_params p = difu_train_params_default();
    if (difu_train_params_from_checkpoint(e, path, &p) == DIFU_OK) {
        FUZZ_CHECK(p.data && p.model, "resume params without data or model");
        free((char *)p.data);
        free((char *)p.model);
    } else {
        fuzz_check_message(difu_engine_last_error(e));
    }
    return 0;
}
