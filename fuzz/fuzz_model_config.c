/* fuzz_model_config.c: the "difu.config" JSON decoder (difu_model_config_from_json) on arbitrary
 * text. A config it accepts passes difu_model_config_check, and encoding it and decoding the text
 * again gives the same config (the encoder prints floats as Python's repr, which must round-trip). */
#include "fuzz_util.h"
#include "model_config_json.h"

static int same(const difu_model_config *a, const difu_model_config *b)
{
    if (a->ch != b->ch || a->n_levels != b->n_levels || a->num_res_blocks != b->num_res_blocks ||
        a->n_attn_res != b->n_attn_res || a->num_classes != b->num_classes ||
        a->n_groups != b->n_groups || a->img_size != b->img_size || a->in_ch != b->in_ch ||
        memcmp(&a->dropout, &b->dropout, sizeof(float)) != 0 ||
        memcmp(&a->gn_eps, &b->gn_eps, sizeof(float)) != 0)
        return 0;
    for (int i = 0; i < a->n_levels; i++)
        if (a->ch_mult[i] != b->ch_mult[i])
            return 0;
    for (int i = 0; i < a->n_attn_res; i++)
        if (a->attn_res[i] != b->attn_res[i])
            return 0;
    for (int i = 0; i < a->n_groups; i++)
        if (a->groups[i][0] != b->groups[i][0] || a->groups[i][1] != b->groups[i][1])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    difu_engine *e = fuzz_engine();
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    difu_model_config c;
    if (difu_model_config_from_json(e, text, &c) != DIFU_OK) {
        fuzz_check_message(difu_engine_last_error(e));
        free(text);
        return 0;
    }
    FUZZ_CHECK(difu_model_config_check(e, &c) == DIFU_OK, "accepted config fails its check: %s",
               difu_engine_last_error(e));
    char *json = NULL;
    FUZZ_CHECK(difu_model_config_to_json(e, &c, &json) == DIFU_OK, "encode: %s",
               difu_engine_last_error(e));
    difu_model_config back;
    FUZZ_CHECK(difu_model_config_from_json(e, json, &back) == DIFU_OK, "re-decode of %s: %s", json,
               difu_engine_last_error(e));
    FUZZ_CHECK(same(&c, &back), "config changed after encode + decode: %s", json);
    free(json);
    free(text);
    return 0;
}
