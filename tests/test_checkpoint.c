/* test_checkpoint.c: checkpoints (engine/checkpoint.c), the safetensors writer and the
 * difu.config JSON: bit-exact round trips, digests, every kind of damaged or hostile file refused
 * with a message naming the tensor (and before anything large is allocated), atomic saves that
 * keep the previous file (file size limit, SIGKILL, missing or read-only folder), and configs
 * inferred from the shapes of a PyTorch state_dict. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model_config_json.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

/* Files in dir whose name contains ".tmp-". */
static int temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    int n = 0;
    while (d && (ent = readdir(d)))
        n += strstr(ent->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return n;
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void data_path(char *out, size_t len, const char *name)
{
    const char *env = getenv("DIFU_TEST_DATA");
    if (env) {
        snprintf(out, len, "%s/%s", env, name);
        if (access(out, R_OK) == 0)
            return;
    }
    const char *dirs[] = {"../tests/data", "tests/data", "../../tests/data"};
    for (int i = 0; i < 3; i++) {
        snprintf(out, len, "%s/%s", dirs[i], name);
        if (access(out, R_OK) == 0)
            return;
    }
    cr_assert_fail("cannot find tests/data/%s (set DIFU_TEST_DATA)", name);
}

static difu_model *make_model(difu_engine *e, const char *preset, uint64_t seed)
{
    difu_model_config cfg;
    cr_assert_eq(difu_model_preset(e, preset, &cfg), DIFU_OK);
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &cfg, seed, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    return m;
}

static void save_params(difu_engine *e, difu_model *m, const char *path)
{
    difu_ckpt_block b = {"", difu_model_params(m, NULL)};
    cr_assert_eq(difu_checkpoint_save(e, path, m, &b, 1, NULL, 0, NULL, 0), DIFU_OK, "%s",
                 difu_engine_last_error(e));
}

/* Opening path fails with status `want` and a message containing `needle`. */
static void expect_open_fails(difu_engine *e, const char *path, difu_status want, const char *needle)
{
    difu_checkpoint *c = NULL;
    difu_status s = difu_checkpoint_open(e, path, &c);
    cr_assert_eq(s, want, "open %s: status %s, wanted %s (%s)", path, difu_status_name(s),
                 difu_status_name(want), difu_engine_last_error(e));
    cr_assert_null(c);
    cr_assert(strstr(difu_engine_last_error(e), needle), "message '%s' lacks '%s'",
              difu_engine_last_error(e), needle);
}

/* The model's tensors as writer entries (from the params block), for hand-made files. */
static int model_entries(difu_model *m, difu_st_out *out)
{
    int n = difu_model_tensor_count(m);
    for (int i = 0; i < n; i++) {
        int64_t shape[DIFU_MAX_DIMS];
        difu_tensor v;
        out[i].name = difu_model_tensor_info(m, i, &out[i].ndim, shape);
        out[i].dtype = DIFU_ST_F32;
        for (int d = 0; d < out[i].ndim; d++)
            out[i].shape[d] = shape[d];
        cr_assert_eq(difu_model_param(m, out[i].name, &v), DIFU_OK);
        out[i].data = v.data;
    }
    return n;
}

static int configs_equal(const difu_model_config *a, const difu_model_config *b)
{
    if (a->ch != b->ch || a->n_levels != b->n_levels || a->num_res_blocks != b->num_res_blocks ||
        a->n_attn_res != b->n_attn_res || a->dropout != b->dropout ||
        a->num_classes != b->num_classes || a->n_groups != b->n_groups || a->gn_eps != b->gn_eps ||
        a->img_size != b->img_size || a->in_ch != b->in_ch)
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

/* ---------------------------------------------------------------- round trips */

Test(checkpoint, save_load_round_trip_is_bit_exact)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 11);
    size_t nf;
    float *params = difu_model_params(m, &nf);
    float *ema = tu_alloc(nf), *adam_m = tu_alloc(nf);
    difu_model *other = make_model(e, "tiny", 12);
    memcpy(ema, difu_model_params(other, NULL), nf * sizeof(float));
    for (size_t i = 0; i < nf; i++)
        adam_m[i] = params[i] * (i % 2 ? 0.5f : 1e-39f); /* denormals too; padding stays 0 */
    difu_ckpt_block blocks[] = {{"", params}, {"ema.", ema}, {"adam.m.", adam_m}};
    int64_t step = 123456789012345LL;
    int32_t rng[6] = {1, -2, 3, -4, 5, 2147483647};
    double lr[2] = {1e-4, 3.25};
    float scalar = -0.0f;
    difu_ckpt_tensor extras[] = {
        {"train.step", DIFU_ST_I64, 1, {1}, &step},
        {"train.rng", DIFU_ST_I32, 2, {2, 3}, rng},
        {"train.lr", DIFU_ST_F64, 1, {2}, lr},
        {"train.scalar", DIFU_ST_F32, 0, {0}, &scalar}, /* 0-d: one element */
    };
    difu_ckpt_meta meta[] = {{"user.note", "hello \"world\" \\ \n"}, {"user.epoch", "7"}};
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    cr_assert_eq(difu_checkpoint_save(e, path, m, blocks, 3, extras, 4, meta, 2), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert_eq(temp_files(dir), 0);

    difu_checkpoint *c = NULL;
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_model_config cfg;
    cr_assert_eq(difu_checkpoint_config(c, &cfg), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(configs_equal(&cfg, difu_model_get_config(m)));
    cr_assert(difu_checkpoint_has_config(c));
    cr_assert(difu_checkpoint_has_prefix(c, "ema."));
    cr_assert(difu_checkpoint_has_prefix(c, "adam.m."));
    cr_assert(!difu_checkpoint_has_prefix(c, "adam.v."));

    /* each block into a buffer full of garbage: every float, padding included, comes back */
    for (int b = 0; b < 3; b++) {
        float *got = tu_alloc(nf);
        for (size_t i = 0; i < nf; i++)
            got[i] = -777.0f;
        cr_assert_eq(difu_checkpoint_load_block(c, m, blocks[b].prefix, got), DIFU_OK, "%s",
                     difu_engine_last_error(e));
        cr_assert_eq(memcmp(got, blocks[b].data, nf * sizeof(float)), 0, "block '%s' differs",
                     blocks[b].prefix);
        tu_free(got);
    }
    /* into a fresh model's own parameters */
    difu_model *m2 = make_model(e, "tiny", 99);
    cr_assert_eq(difu_checkpoint_load_block(c, m2, "", NULL), DIFU_OK);
    cr_assert_eq(memcmp(difu_model_params(m2, NULL), params, nf * sizeof(float)), 0);

    const difu_safetensors *s = difu_checkpoint_file(c);
    for (int i = 0; i < 4; i++) {
        const difu_st_tensor *t = difu_st_find(s, extras[i].name);
        cr_assert(t, "extra %s missing", extras[i].name);
        cr_assert_eq(t->dtype, extras[i].dtype);
        cr_assert_eq(t->ndim, extras[i].ndim);
        for (int d = 0; d < t->ndim; d++)
            cr_assert_eq(t->shape[d], extras[i].shape[d]);
        cr_assert_eq(memcmp(difu_st_data(s, t), extras[i].data, t->end - t->begin), 0);
    }
    cr_assert_str_eq(difu_st_meta_get(s, "user.note"), meta[0].value);
    cr_assert_str_eq(difu_st_meta_get(s, "user.epoch"), "7");
    cr_assert_str_eq(difu_st_meta_get(s, "difu.format"), "1");
    cr_assert_str_eq(difu_st_meta_get(s, "difu.img_size"), "8");
    cr_assert_str_eq(difu_st_meta_get(s, "difu.in_ch"), "1");
    cr_assert_eq(s->data_start % 8, 0, "data must start 8-byte aligned");
    difu_checkpoint_close(c);

    /* saving the same thing twice gives the same bytes */
    char path2[256];
    snprintf(path2, sizeof path2, "%s/ck2.safetensors", dir);
    cr_assert_eq(difu_checkpoint_save(e, path2, m, blocks, 3, extras, 4, meta, 2), DIFU_OK);
    size_t n1, n2;
    unsigned char *b1 = read_bytes(path, &n1), *b2 = read_bytes(path2, &n2);
    cr_assert(n1 == n2 && memcmp(b1, b2, n1) == 0, "two saves of the same state differ");
    free(b1);
    free(b2);

    difu_model_destroy(m2);
    difu_model_destroy(other);
    difu_model_destroy(m);
    tu_free(ema);
    tu_free(adam_m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(checkpoint, save_refuses_bad_arguments)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 1);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    difu_ckpt_block two[] = {{"", difu_model_params(m, NULL)}, {"", difu_model_params(m, NULL)}};
    cr_assert_eq(difu_checkpoint_save(e, path, m, two, 2, NULL, 0, NULL, 0), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "appears twice"), "%s", difu_engine_last_error(e));
    difu_ckpt_meta own[] = {{"difu.config", "{}"}};
    cr_assert_eq(difu_checkpoint_save(e, path, m, two, 1, NULL, 0, own, 1), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "difu.config"));
    int64_t v = 1;
    difu_ckpt_tensor clash[] = {{"conv_in.bias", DIFU_ST_I64, 1, {1}, &v}};
    cr_assert_eq(difu_checkpoint_save(e, path, m, two, 1, clash, 1, NULL, 0), DIFU_ERR_INVALID_ARG);
    cr_assert(strstr(difu_engine_last_error(e), "conv_in.bias"));
    difu_ckpt_tensor negative[] = {{"x", DIFU_ST_F32, 1, {-1}, &v}};
    cr_assert_eq(difu_checkpoint_save(e, path, m, two, 1, negative, 1, NULL, 0),
                 DIFU_ERR_INVALID_ARG);
    cr_assert_eq(access(path, F_OK), -1, "a refused save must not create the file");
    cr_assert_eq(temp_files(dir), 0);
    difu_model_destroy(m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- config JSON */

Test(config_json, presets_match_python_text_and_round_trip)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    /* UNetConfig(...).to_json() of tools/pytorch/unet.py */
    const char *python[][2] = {
        {"fmnist-t", "{\"ch\":32,\"ch_mult\":[1,2,2],\"num_res_blocks\":2,\"attn_res\":[7],"
                     "\"dropout\":0.0,\"num_classes\":10,\"groups\":[[0,8],[64,32]],"
                     "\"gn_eps\":1e-06,\"img_size\":28,\"in_ch\":1}"},
        {"fmnist-s", "{\"ch\":64,\"ch_mult\":[1,2,2],\"num_res_blocks\":2,\"attn_res\":[7],"
                     "\"dropout\":0.0,\"num_classes\":10,\"groups\":[[0,32]],"
                     "\"gn_eps\":1e-06,\"img_size\":28,\"in_ch\":1}"},
        {"tiny", "{\"ch\":16,\"ch_mult\":[1,2],\"num_res_blocks\":1,\"attn_res\":[4],"
                 "\"dropout\":0.0,\"num_classes\":10,\"groups\":[[0,8]],"
                 "\"gn_eps\":1e-06,\"img_size\":8,\"in_ch\":1}"},
    };
    for (int i = 0; i < 3; i++) {
        difu_model_config cfg, back;
        cr_assert_eq(difu_model_preset(e, python[i][0], &cfg), DIFU_OK);
        char *json = NULL;
        cr_assert_eq(difu_model_config_to_json(e, &cfg, &json), DIFU_OK);
        cr_assert_str_eq(json, python[i][1], "%s", python[i][0]);
        cr_assert_eq(difu_model_config_from_json(e, json, &back), DIFU_OK, "%s",
                     difu_engine_last_error(e));
        cr_assert(configs_equal(&cfg, &back), "%s does not round-trip", python[i][0]);
        free(json);
    }
    difu_engine_destroy(e);
}

Test(config_json, custom_config_round_trips)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model_config cfg, back;
    cr_assert_eq(difu_model_preset(e, "fmnist-t", &cfg), DIFU_OK);
    cfg.dropout = 0.1f;
    cfg.num_classes = 0;
    cfg.gn_eps = 1e-5f;
    cfg.n_attn_res = 2;
    cfg.attn_res[0] = 14;
    cfg.attn_res[1] = 7;
    cfg.in_ch = 3;
    cfg.img_size = 32;
    cfg.ch_mult[2] = 3;
    cfg.n_groups = 3;
    cfg.groups[0][0] = 0, cfg.groups[0][1] = 8;
    cfg.groups[1][0] = 64, cfg.groups[1][1] = 16;
    cfg.groups[2][0] = 128, cfg.groups[2][1] = 32;
    cr_assert_eq(difu_model_config_check(e, &cfg), DIFU_OK, "%s", difu_engine_last_error(e));
    char *json = NULL;
    cr_assert_eq(difu_model_config_to_json(e, &cfg, &json), DIFU_OK);
    cr_assert(strstr(json, "\"dropout\":0.1,"), "%s", json);
    cr_assert(strstr(json, "\"gn_eps\":1e-05,"), "%s", json);
    cr_assert(strstr(json, "\"attn_res\":[14,7]"), "%s", json);
    cr_assert(strstr(json, "\"groups\":[[0,8],[64,16],[128,32]]"), "%s", json);
    cr_assert_eq(difu_model_config_from_json(e, json, &back), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    cr_assert(configs_equal(&cfg, &back));
    free(json);
    /* Python may write null for 0 classes, and spacing is free */
    const char *py = "{ \"ch\": 16, \"ch_mult\": [1, 2], \"num_res_blocks\": 1, \"attn_res\": [],"
                     " \"dropout\": 0, \"num_classes\": null, \"groups\": [[0, 8]],"
                     " \"gn_eps\": 1e-06, \"img_size\": 8, \"in_ch\": 1}";
    cr_assert_eq(difu_model_config_from_json(e, py, &back), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(back.num_classes, 0);
    cr_assert_eq(back.n_attn_res, 0);
    difu_engine_destroy(e);
}

Test(config_json, bad_json_is_refused_naming_the_key)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    const char *good = "{\"ch\":16,\"ch_mult\":[1,2],\"num_res_blocks\":1,\"attn_res\":[4],"
                       "\"dropout\":0.0,\"num_classes\":10,\"groups\":[[0,8]],\"gn_eps\":1e-06,"
                       "\"img_size\":8,\"in_ch\":1}";
    struct { const char *from, *to, *needle; } cases[] = {
        {"\"ch\":16,", "", "\"ch\""},                                  /* missing */
        {"\"in_ch\":1}", "\"in_ch\":1,\"bogus\":2}", "bogus"},          /* unknown key */
        {"\"ch\":16", "\"ch\":16.5", "\"ch\""},                         /* not an integer */
        {"\"ch\":16", "\"ch\":\"16\"", "\"ch\""},                       /* a string */
        {"\"ch_mult\":[1,2]", "\"ch_mult\":[1,2,1,1,1,1,1,1,1]", "ch_mult"}, /* 9 levels */
        {"\"groups\":[[0,8]]", "\"groups\":[[0,8,1]]", "groups"},       /* not pairs */
        {"\"groups\":[[0,8]]", "\"groups\":[[0,7]]", "group"},          /* 7 does not divide 16 */
        {"\"dropout\":0.0", "\"dropout\":1e999", "dropout"},            /* infinite */
        {"\"ch\":16", "\"ch\":-16", "ch"},                              /* checked config */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        const char *at = strstr(good, cases[i].from);
        cr_assert(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, cases[i].to,
                 at + strlen(cases[i].from));
        difu_model_config cfg;
        cr_assert_eq(difu_model_config_from_json(e, text, &cfg), DIFU_ERR_FORMAT, "accepted %s", text);
        cr_assert(strstr(difu_engine_last_error(e), cases[i].needle), "case %zu: '%s' lacks %s", i,
                  difu_engine_last_error(e), cases[i].needle);
    }
    difu_model_config cfg;
    cr_assert_eq(difu_model_config_from_json(e, "[1,2]", &cfg), DIFU_ERR_FORMAT);
    cr_assert_eq(difu_model_config_from_json(e, "{\"ch\":", &cfg), DIFU_ERR_FORMAT);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- damaged files */

Test(checkpoint, corrupted_byte_fails_the_digest_of_that_tensor)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 3);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    save_params(e, m, path);
    const char *victims[] = {"temb_dense0.weight", "mid_attn.qkv.weight", "conv_out.bias"};
    for (int v = 0; v < 3; v++) {
        difu_safetensors *s = NULL;
        cr_assert_eq(difu_st_read(e, path, &s), DIFU_OK);
        const difu_st_tensor *t = difu_st_find(s, victims[v]);
        cr_assert(t);
        size_t at = s->data_start + (t->begin + t->end) / 2, size = s->size;
        unsigned char *bytes = malloc(size);
        memcpy(bytes, s->bytes, size);
        difu_st_free(s);
        bytes[at] ^= 0x10;
        char bad[256];
        snprintf(bad, sizeof bad, "%s/bad%d.safetensors", dir, v);
        write_bytes(bad, bytes, size);
        free(bytes);
        expect_open_fails(e, bad, DIFU_ERR_FORMAT, victims[v]);
        cr_assert(strstr(difu_engine_last_error(e), bad), "message lacks the file name");
        cr_assert(strstr(difu_engine_last_error(e), "digest"));
    }
    difu_model_destroy(m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(checkpoint, truncated_files_are_refused)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 4);
    char dir[64], path[256], cut[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    save_params(e, m, path);
    size_t size;
    unsigned char *bytes = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | bytes[i];
    size_t points[] = {0, 1, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1,
                       8 + hlen + 4, size / 2, size - 4, size - 1};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        write_bytes(cut, bytes, points[i]);
        difu_checkpoint *c = NULL;
        difu_status s = difu_checkpoint_open(e, cut, &c);
        cr_assert_eq(s, DIFU_ERR_FORMAT, "cut at %zu of %zu: %s (%s)", points[i], size,
                     difu_status_name(s), difu_engine_last_error(e));
        cr_assert(strstr(difu_engine_last_error(e), cut), "cut at %zu: '%s' lacks the file name",
                  points[i], difu_engine_last_error(e));
    }
    /* and one byte too many */
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, bytes, size);
    longer[size] = 0;
    write_bytes(cut, longer, size + 1);
    expect_open_fails(e, cut, DIFU_ERR_FORMAT, "data buffer");
    free(longer);
    expect_open_fails(e, "/nonexistent-folder/ck.safetensors", DIFU_ERR_IO, "nonexistent-folder");
    free(bytes);
    difu_model_destroy(m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

/* Writes `n` model tensors plus edits into path (no difu metadata: a foreign file). */
static void write_foreign(difu_engine *e, const char *path, difu_st_out *t, int n)
{
    cr_assert_eq(difu_st_write(e, path, t, n, NULL, 0), DIFU_OK, "%s", difu_engine_last_error(e));
}

Test(checkpoint, missing_misshapen_and_mistyped_tensors_are_named)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 5);
    int T = difu_model_tensor_count(m);
    difu_st_out *t = calloc((size_t)T, sizeof *t), *edit = calloc((size_t)T, sizeof *edit);
    model_entries(m, t);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    size_t nf;
    float *params = difu_model_params(m, &nf);
    float *block = tu_alloc(nf), *before = tu_alloc(nf);
    for (size_t i = 0; i < nf; i++)
        block[i] = before[i] = (float)i;
    double big[4096];
    memset(big, 0, sizeof big);

    for (int kind = 0; kind < 4; kind++) {
        int victim = kind == 0 ? T - 1 : kind == 1 ? 7 : kind == 2 ? 5 : 0; /* 5: conv_in.weight */
        memcpy(edit, t, (size_t)T * sizeof *t);
        int n = T;
        const char *needle = "";
        if (kind == 0) { /* missing: the last tensor, so every other one was fine */
            n = T - 1;
            needle = "is missing";
        } else if (kind == 1) { /* a dimension off by one */
            edit[victim].shape[0] -= 1;
            needle = "has shape";
        } else if (kind == 2) { /* a different rank, same element count */
            int64_t count = 1;
            for (int d = 0; d < t[victim].ndim; d++)
                count *= t[victim].shape[d];
            edit[victim].ndim = 1;
            edit[victim].shape[0] = count;
            needle = "has shape";
        } else { /* F64 instead of F32 */
            edit[victim].dtype = DIFU_ST_F64;
            cr_assert(t[0].ndim == 2 && t[0].shape[0] * t[0].shape[1] <= 4096);
            edit[victim].data = big;
            needle = "dtype F64";
        }
        write_foreign(e, path, edit, n);
        difu_checkpoint *c = NULL;
        cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK, "%s", difu_engine_last_error(e));
        difu_status s = difu_checkpoint_load_block(c, m, "", block);
        cr_assert_eq(s, DIFU_ERR_FORMAT, "kind %d: %s", kind, difu_status_name(s));
        const char *msg = difu_engine_last_error(e);
        cr_assert(strstr(msg, needle), "kind %d: '%s' lacks '%s'", kind, msg, needle);
        char quoted[128];
        snprintf(quoted, sizeof quoted, "'%s'", t[victim].name);
        cr_assert(strstr(msg, quoted), "kind %d: '%s' does not name %s", kind, msg, quoted);
        cr_assert(strstr(msg, path), "kind %d: '%s' does not name the file", kind, msg);
        cr_assert_eq(memcmp(block, before, nf * sizeof(float)), 0,
                     "kind %d: a refused load changed the block", kind);
        /* the prefix is part of the name in the message */
        cr_assert_eq(difu_checkpoint_load_block(c, m, "ema.", block), DIFU_ERR_FORMAT);
        cr_assert(strstr(difu_engine_last_error(e), "'ema.temb_dense0.weight' is missing"), "%s",
                  difu_engine_last_error(e));
        difu_checkpoint_close(c);
    }
    (void)params;
    tu_free(block);
    tu_free(before);
    free(t);
    free(edit);
    difu_model_destroy(m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

/* A file from a header text and `data` bytes of zeros. */
static void write_raw(const char *path, const char *header, uint64_t claimed_len, size_t data)
{
    size_t h = strlen(header);
    unsigned char *b = calloc(1, 8 + h + data);
    uint64_t n = claimed_len ? claimed_len : h;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, h);
    write_bytes(path, b, 8 + h + data);
    free(b);
}

Test(checkpoint, absurd_headers_are_refused_before_allocation)
{
#if !defined(__SANITIZE_ADDRESS__)
    /* with 1 GiB of address space to spare, any attempt to allocate what the header claims
     * fails as "out of memory" instead of the format error this test wants */
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = (rlim_t)4 << 30;
    setrlimit(RLIMIT_AS, &rl);
#endif
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/evil.safetensors", dir);
    struct {
        const char *header;
        uint64_t claimed;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{}", (uint64_t)1 << 60, 0, "header length"},
        {"{}", 0xFFFFFFFFFFFFFFFFull, 0, "header length"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,4000000000000]}}",
         0, 16, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000],\"data_offsets\":[0,4000000000000]}}",
         0, 16, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 0,
         16, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 0, 8, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         0, 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 0, 8, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 4, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 0, 8, "'a'"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 0, 4, "F16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 0, 4,
         "'a'"},
        {"{\"__metadata__\":{\"difu.xxh3\":\"{\\\"zz\\\":\\\"0000000000000000\\\"}\"}}", 0, 0, "'zz'"},
        {"{\"__metadata__\":{\"difu.format\":\"1\"}}", 0, 0, "difu.xxh3"},
        {"{\"__metadata__\":{\"difu.format\":\"2\"}}", 0, 0, "format"},
        {"[1,2,3]", 0, 0, "JSON object"},
        {"{\"a\":", 0, 0, "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].header, cases[i].claimed, cases[i].data);
        difu_checkpoint *c = NULL;
        difu_status s = difu_checkpoint_open(e, path, &c);
        cr_assert(s == DIFU_ERR_FORMAT || s == DIFU_ERR_UNSUPPORTED, "case %zu: %s (%s)", i,
                  difu_status_name(s), difu_engine_last_error(e));
        cr_assert(strstr(difu_engine_last_error(e), cases[i].needle), "case %zu: '%s' lacks '%s'",
                  i, difu_engine_last_error(e), cases[i].needle);
        cr_assert(strstr(difu_engine_last_error(e), path), "case %zu: no file name", i);
    }
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(checkpoint, digest_metadata_must_cover_every_tensor)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/d.safetensors", dir);
    float a[2] = {1, 2}, b[2] = {3, 4};
    difu_st_out t[2] = {{"a", DIFU_ST_F32, 1, {2}, a}, {"b", DIFU_ST_F32, 1, {2}, b}};
    char digests[128];
    snprintf(digests, sizeof digests, "{\"a\":\"%016llx\"}",
             (unsigned long long)difu_st_digest(a, sizeof a));
    difu_st_kv meta[] = {{"difu.xxh3", digests}};
    cr_assert_eq(difu_st_write(e, path, t, 2, meta, 1), DIFU_OK);
    expect_open_fails(e, path, DIFU_ERR_FORMAT, "'b' has no digest");
    /* both digests: opens */
    snprintf(digests, sizeof digests, "{\"a\":\"%016llx\",\"b\":\"%016llx\"}",
             (unsigned long long)difu_st_digest(a, sizeof a),
             (unsigned long long)difu_st_digest(b, sizeof b));
    cr_assert_eq(difu_st_write(e, path, t, 2, meta, 1), DIFU_OK);
    difu_checkpoint *c = NULL;
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_checkpoint_close(c);
    /* a malformed digest value */
    snprintf(digests, sizeof digests, "{\"a\":\"xyz\",\"b\":\"%016llx\"}",
             (unsigned long long)difu_st_digest(b, sizeof b));
    cr_assert_eq(difu_st_write(e, path, t, 2, meta, 1), DIFU_OK);
    expect_open_fails(e, path, DIFU_ERR_FORMAT, "'a'");
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- atomic saves */

static uint64_t file_params_digest(difu_engine *e, const char *path, difu_model *m)
{
    difu_checkpoint *c = NULL;
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK, "%s", difu_engine_last_error(e));
    size_t nf;
    difu_model_params(m, &nf);
    float *block = tu_alloc(nf);
    cr_assert_eq(difu_checkpoint_load_block(c, m, "", block), DIFU_OK, "%s",
                 difu_engine_last_error(e));
    uint64_t d = difu_st_digest(block, nf * sizeof(float));
    tu_free(block);
    difu_checkpoint_close(c);
    return d;
}

Test(atomic, file_size_limit_keeps_the_previous_checkpoint)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *a = make_model(e, "tiny", 1), *b = make_model(e, "tiny", 2);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    save_params(e, a, path);
    size_t nf;
    float *pa = difu_model_params(a, &nf);
    uint64_t want = difu_st_digest(pa, nf * sizeof(float));
    cr_assert_eq(file_params_digest(e, path, a), want);
    /* limits below, inside and just short of the file */
    rlim_t limits[] = {0, 100, 4096, 300000, 700000};
    for (int k = 0; k < 5; k++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {limits[k], limits[k]};
            setrlimit(RLIMIT_FSIZE, &rl);
            difu_ckpt_block blk = {"", difu_model_params(b, NULL)};
            difu_status s = difu_checkpoint_save(e, path, b, &blk, 1, NULL, 0, NULL, 0);
            const char *msg = difu_engine_last_error(e);
            _exit(s == DIFU_ERR_IO && strstr(msg, path) && strstr(msg, "unchanged") ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "limit %lu: the save did not fail cleanly (status %d)", (unsigned long)limits[k],
                  status);
        cr_assert_eq(file_params_digest(e, path, a), want, "limit %lu: the previous file changed",
                     (unsigned long)limits[k]);
        cr_assert_eq(temp_files(dir), 0, "limit %lu: a temporary file was left behind",
                     (unsigned long)limits[k]);
    }
    difu_model_destroy(a);
    difu_model_destroy(b);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(atomic, missing_or_read_only_folder_is_reported)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *m = make_model(e, "tiny", 1);
    difu_ckpt_block blk = {"", difu_model_params(m, NULL)};
    const char *missing = "/tmp/difu-no-such-folder-4711/sub/ck.safetensors";
    cr_assert_eq(difu_checkpoint_check_writable(e, missing), DIFU_ERR_IO);
    cr_assert(strstr(difu_engine_last_error(e), "does not exist"), "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_checkpoint_save(e, missing, m, &blk, 1, NULL, 0, NULL, 0), DIFU_ERR_IO);
    cr_assert(strstr(difu_engine_last_error(e), "/tmp/difu-no-such-folder-4711/sub"), "%s",
              difu_engine_last_error(e));
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    cr_assert_eq(difu_checkpoint_check_writable(e, path), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(temp_files(dir), 0);
    cr_assert_eq(difu_checkpoint_check_writable(e, dir), DIFU_ERR_IO, "a folder is no file name");
    save_params(e, m, path);
    chmod(dir, 0555);
    if (geteuid() != 0) { /* root writes into read-only folders anyway */
        cr_assert_eq(difu_checkpoint_check_writable(e, path), DIFU_ERR_IO);
        cr_assert(strstr(difu_engine_last_error(e), "not writable"), "%s", difu_engine_last_error(e));
        cr_assert_eq(difu_checkpoint_save(e, path, m, &blk, 1, NULL, 0, NULL, 0), DIFU_ERR_IO);
        difu_checkpoint *c = NULL;
        cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK);
        difu_checkpoint_close(c);
    } else {
        cr_log_info("running as root: the read-only folder case is not testable");
    }
    /* a file path through a regular file */
    char through[300];
    snprintf(through, sizeof through, "%s/sub.safetensors", path);
    cr_assert_eq(difu_checkpoint_save(e, through, m, &blk, 1, NULL, 0, NULL, 0), DIFU_ERR_IO);
    cr_assert(strstr(difu_engine_last_error(e), "not a folder"), "%s", difu_engine_last_error(e));
    difu_model_destroy(m);
    chmod(dir, 0755);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

Test(atomic, sigkill_during_saves_never_leaves_a_torn_checkpoint, .timeout = 300)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    difu_model *a = make_model(e, "tiny", 1), *b = make_model(e, "tiny", 2);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    save_params(e, a, path);
    size_t nf;
    float *pa = difu_model_params(a, &nf);
    uint64_t da = difu_st_digest(pa, nf * sizeof(float));
    uint64_t db = difu_st_digest(difu_model_params(b, NULL), nf * sizeof(float));
    int saw[2] = {0, 0};
    for (int k = 0; k < 40; k++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            for (int i = 0;; i++) {
                difu_model *m = i % 2 ? a : b;
                difu_ckpt_block blk = {"", difu_model_params(m, NULL)};
                if (difu_checkpoint_save(e, path, m, &blk, 1, NULL, 0, NULL, 0) != DIFU_OK)
                    _exit(3);
            }
        }
        struct timespec ts = {0, (long)(k * 997 % 40 + 1) * 500000L}; /* 0.5 .. 20 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "the saving child stopped on its own (status %d)", status);
        uint64_t d = file_params_digest(e, path, a);
        cr_assert(d == da || d == db, "kill %d: the checkpoint is neither the old nor the new one", k);
        saw[d == db]++;
    }
    /* killed writers cannot remove their temporaries; the next good save does */
    cr_log_info("SIGKILL: 40 kills, old/new checkpoint found %d/%d times, %d stray temporaries",
                saw[0], saw[1], temp_files(dir));
    char other[300];
    snprintf(other, sizeof other, "%s/other.safetensors.tmp-abcdef", dir);
    write_bytes(other, "x", 1);
    save_params(e, a, path);
    cr_assert_eq(temp_files(dir), 1, "a good save leaves stray temporaries of its own file");
    cr_assert_eq(access(other, F_OK), 0, "a save removed another file's temporary");
    difu_model_destroy(a);
    difu_model_destroy(b);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}

/* ---------------------------------------------------------------- foreign checkpoints */

/* The golden file's tensors without its metadata: what a PyTorch state_dict saved as
 * safetensors looks like. */
static void strip_metadata(difu_engine *e, const char *src, const char *dst, int params_only,
                           difu_model *m)
{
    difu_safetensors *s = NULL;
    cr_assert_eq(difu_st_read(e, src, &s), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_st_out *t = calloc((size_t)s->n_tensors, sizeof *t);
    int n = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const difu_st_tensor *x = &s->tensors[i];
        if (params_only) {
            difu_tensor v;
            if (difu_model_param(m, x->name, &v) != DIFU_OK)
                continue;
        }
        t[n].name = x->name;
        t[n].dtype = x->dtype;
        t[n].ndim = x->ndim;
        memcpy(t[n].shape, x->shape, sizeof t[n].shape);
        t[n].data = difu_st_data(s, x);
        n++;
    }
    cr_assert_eq(difu_st_write(e, dst, t, n, NULL, 0), DIFU_OK, "%s", difu_engine_last_error(e));
    free(t);
    difu_st_free(s);
}

static void check_eps(difu_engine *e, difu_checkpoint *c, const difu_safetensors *golden)
{
    difu_model_config cfg;
    cr_assert_eq(difu_checkpoint_config_for(c, 8, &cfg), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &cfg, 0, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(difu_checkpoint_load_block(c, m, "", NULL), DIFU_OK, "%s", difu_engine_last_error(e));
    const difu_st_tensor *x = difu_st_find(golden, "x"), *t = difu_st_find(golden, "t"),
                         *y = difu_st_find(golden, "y"), *eps = difu_st_find(golden, "eps");
    cr_assert(x && t && y && eps);
    int n = (int)x->shape[0];
    size_t per = (size_t)difu_st_numel(x) / (size_t)n;
    float *xb = tu_alloc(per * (size_t)n), *want = tu_alloc(per * (size_t)n),
          *got = tu_alloc(per * (size_t)n);
    int64_t tb[16], yb[16];
    memcpy(xb, difu_st_data(golden, x), x->end - x->begin);
    memcpy(want, difu_st_data(golden, eps), eps->end - eps->begin);
    memcpy(tb, difu_st_data(golden, t), t->end - t->begin);
    memcpy(yb, difu_st_data(golden, y), y->end - y->begin);
    cr_assert_eq(difu_model_forward(m, n, xb, tb, yb, got), DIFU_OK, "%s", difu_engine_last_error(e));
    float mx = 0;
    for (size_t i = 0; i < per * (size_t)n; i++)
        mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    tu_assert_close("eps", got, want, per * (size_t)n, 1e-4 * mx, 0);
    tu_free(xb);
    tu_free(want);
    tu_free(got);
    difu_model_destroy(m);
}

Test(foreign, golden_file_and_its_metadata_free_twin_match_pytorch)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char golden[1024];
    data_path(golden, sizeof golden, "golden-tiny.safetensors");
    difu_safetensors *g = NULL;
    cr_assert_eq(difu_st_read(e, golden, &g), DIFU_OK);
    /* the golden file itself: difu.config, no digests, many extra tensors (x, eps, grad.*) */
    difu_checkpoint *c = NULL;
    cr_assert_eq(difu_checkpoint_open(e, golden, &c), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(difu_checkpoint_has_config(c));
    check_eps(e, c, g);
    difu_checkpoint_close(c);
    /* the same without metadata: config inferred from shapes; extras still present */
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/torch.safetensors", dir);
    strip_metadata(e, golden, path, 0, NULL);
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(!difu_checkpoint_has_config(c));
    difu_model_config want, got;
    cr_assert_eq(difu_model_preset(e, "tiny", &want), DIFU_OK);
    cr_assert_eq(difu_checkpoint_config(c, &got), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(configs_equal(&want, &got), "the inferred config is not tiny's");
    check_eps(e, c, g);
    difu_checkpoint_close(c);
    tu_rm_tree(dir);
    difu_st_free(g);
    difu_engine_destroy(e);
}

Test(foreign, configs_are_inferred_from_shapes)
{
    difu_engine *e = tu_engine(DIFU_ISA_COUNT, 1);
    char dir[64], path[256];
    tu_make_tmpdir(dir, sizeof dir, "ckpt");
    snprintf(path, sizeof path, "%s/torch.safetensors", dir);
    /* presets: everything, groups included, comes back */
    const char *presets[] = {"fmnist-t", "fmnist-s", "tiny"};
    for (int p = 0; p < 3; p++) {
        difu_model *m = make_model(e, presets[p], 1);
        difu_st_out *t = calloc((size_t)difu_model_tensor_count(m), sizeof *t);
        write_foreign(e, path, t, model_entries(m, t));
        difu_checkpoint *c = NULL;
        difu_model_config got;
        cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK);
        cr_assert_eq(difu_checkpoint_config(c, &got), DIFU_OK, "%s", difu_engine_last_error(e));
        cr_assert(configs_equal(difu_model_get_config(m), &got), "%s: inferred config differs",
                  presets[p]);
        difu_checkpoint_close(c);
        free(t);
        difu_model_destroy(m);
    }
    /* an unknown structure: no classes, 3 res blocks, attention at 16 of a 32x32 RGB input:
     * 32 groups everywhere */
    difu_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ch = 32;
    cfg.n_levels = 3;
    cfg.ch_mult[0] = 1, cfg.ch_mult[1] = 2, cfg.ch_mult[2] = 4;
    cfg.num_res_blocks = 3;
    cfg.n_attn_res = 1;
    cfg.attn_res[0] = 16;
    cfg.n_groups = 1;
    cfg.groups[0][0] = 0, cfg.groups[0][1] = 32;
    cfg.gn_eps = 1e-6f;
    cfg.img_size = 32;
    cfg.in_ch = 3;
    difu_model *m = NULL;
    cr_assert_eq(difu_model_create(e, &cfg, 1, &m), DIFU_OK, "%s", difu_engine_last_error(e));
    difu_st_out *t = calloc((size_t)difu_model_tensor_count(m), sizeof *t);
    write_foreign(e, path, t, model_entries(m, t));
    difu_checkpoint *c = NULL;
    difu_model_config got;
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK);
    cr_assert_eq(difu_checkpoint_config_for(c, 32, &got), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert(configs_equal(&cfg, &got), "custom: inferred config differs");
    cr_assert_eq(difu_checkpoint_load_block(c, m, "", NULL), DIFU_OK, "%s", difu_engine_last_error(e));
    /* without the size hint the default 28 puts the attention of level 1 at 14 */
    cr_assert_eq(difu_checkpoint_config(c, &got), DIFU_OK, "%s", difu_engine_last_error(e));
    cr_assert_eq(got.img_size, 28);
    cr_assert(got.n_attn_res == 1 && got.attn_res[0] == 14);
    difu_checkpoint_close(c);
    /* no conv_in: nothing to infer from, said so */
    write_foreign(e, path, t + 1, 3);
    cr_assert_eq(difu_checkpoint_open(e, path, &c), DIFU_OK);
    cr_assert_eq(difu_checkpoint_config(c, &got), DIFU_ERR_FORMAT);
    cr_assert(strstr(difu_engine_last_error(e), "conv_in.weight"), "%s", difu_engine_last_error(e));
    difu_checkpoint_close(c);
    free(t);
    difu_model_destroy(m);
    tu_rm_tree(dir);
    difu_engine_destroy(e);
}
