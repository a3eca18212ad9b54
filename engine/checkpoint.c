/* checkpoint.c: difu checkpoints in the safetensors format (see checkpoint.h): saving the model's
 * blocks, extras and metadata with per-tensor XXH3-64 digests; opening with digest verification;
 * the model config from "difu.config" or inferred from the tensor shapes; loading a block with
 * every tensor checked for presence, dtype and shape before anything is copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "checkpoint.h"
#include "model_config_json.h"

struct difu_checkpoint {
    difu_engine *e;
    char *path;
    difu_safetensors *st;
};

#define NAME_MAX_LEN 512

static const char *const reserved_keys[] = {"difu.format", "difu.config", "difu.img_size",
                                            "difu.in_ch", "difu.xxh3"};
enum { N_RESERVED = sizeof reserved_keys / sizeof reserved_keys[0] };

/* ---------------------------------------------------------------- helpers */

/* Float offsets of the model's tensors inside its parameter block (malloc'd [tensor_count]). */
static difu_status model_offsets(difu_engine *e, difu_model *m, size_t **out)
{
    int T = difu_model_tensor_count(m);
    size_t *off = malloc((size_t)(T > 0 ? T : 1) * sizeof *off);
    if (!off)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "checkpoint: out of memory");
    float *base = difu_model_params(m, NULL);
    for (int i = 0; i < T; i++) {
        difu_tensor v;
        if (difu_model_param(m, difu_model_tensor_info(m, i, NULL, NULL), &v) != DIFU_OK) {
            free(off);
            return difu_fail(e, DIFU_ERR_INTERNAL, "checkpoint: model tensor %d has no view", i);
        }
        off[i] = (size_t)(v.data - base);
    }
    *out = off;
    return DIFU_OK;
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < len)
        snprintf(buf + at, len - at, "]");
}

static int join(char *buf, const char *prefix, const char *name)
{
    return snprintf(buf, NAME_MAX_LEN, "%s%s", prefix ? prefix : "", name) < NAME_MAX_LEN;
}

/* ---------------------------------------------------------------- saving */

/* The "difu.xxh3" JSON object of the tensors' digests (malloc'd via cJSON). */
static char *digest_json(const difu_st_out *t, int n)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    for (int i = 0; ok && i < n; i++) {
        uint64_t bytes = (uint64_t)numel(t[i].ndim, t[i].shape) * difu_st_dtype_size(t[i].dtype);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)difu_st_digest(t[i].data, bytes));
        ok = cJSON_AddStringToObject(root, t[i].name, hex) != NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static difu_status check_extra(difu_engine *e, const char *path, const difu_ckpt_tensor *x)
{
    if (!x->name || x->dtype < 0 || x->dtype >= DIFU_ST_DTYPE_COUNT || x->ndim < 0 ||
        x->ndim > DIFU_ST_MAX_DIMS)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: extra tensor '%s' has no name, a bad dtype or "
                         "a bad rank", path, x->name ? x->name : "(null)");
    uint64_t bytes = difu_st_dtype_size(x->dtype);
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] < 0 || x->shape[d] > ((int64_t)1 << 40))
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: extra tensor '%s' dim %d is %lld", path,
                             x->name, d, (long long)x->shape[d]);
        bytes = x->shape[d] == 0 ? 0 : bytes * (uint64_t)x->shape[d];
        if (bytes > ((uint64_t)1 << 50))
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: extra tensor '%s' is too large", path,
                             x->name);
    }
    if (bytes && !x->data)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: extra tensor '%s' has no data", path, x->name);
    return DIFU_OK;
}

difu_status difu_checkpoint_save(difu_engine *e, const char *path, difu_model *m,
                                 const difu_ckpt_block *blocks, int n_blocks,
                                 const difu_ckpt_tensor *extras, int n_extras,
                                 const difu_ckpt_meta *meta, int n_meta)
{
    if (!path || !m || n_blocks < 0 || n_extras < 0 || n_meta < 0 || (n_blocks && !blocks) ||
        (n_extras && !extras) || (n_meta && !meta))
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "checkpoint save: missing path, model or lists");
    for (int b = 0; b < n_blocks; b++)
        if (!blocks[b].data)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: block '%s' has no data", path,
                             blocks[b].prefix ? blocks[b].prefix : "");
    for (int i = 0; i < n_extras; i++) {
        difu_status s = check_extra(e, path, &extras[i]);
        if (s != DIFU_OK)
            return s;
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: metadata pair %d is incomplete", path, i);
        for (int k = 0; k < N_RESERVED; k++)
            if (strcmp(meta[i].key, reserved_keys[k]) == 0)
                return difu_fail(e, DIFU_ERR_INVALID_ARG,
                                 "%s: metadata key '%s' is difu's own; use another", path,
                                 meta[i].key);
    }
    int T = difu_model_tensor_count(m), n = n_blocks * T + n_extras;
    size_t *off = NULL;
    difu_status s = model_offsets(e, m, &off);
    if (s != DIFU_OK)
        return s;
    difu_st_out *outs = calloc((size_t)(n > 0 ? n : 1), sizeof *outs);
    char *names = malloc((size_t)(n_blocks * T > 0 ? n_blocks * T : 1) * NAME_MAX_LEN);
    difu_st_kv *kv = calloc((size_t)(N_RESERVED + n_meta), sizeof *kv);
    char *config = NULL, *digests = NULL;
    if (!outs || !names || !kv) {
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
        goto done;
    }
    int k = 0;
    for (int b = 0; b < n_blocks; b++)
        for (int i = 0; i < T; i++, k++) {
            difu_st_out *o = &outs[k];
            int64_t shape[DIFU_MAX_DIMS];
            const char *name = difu_model_tensor_info(m, i, &o->ndim, shape);
            char *full = names + (size_t)k * NAME_MAX_LEN;
            if (!join(full, blocks[b].prefix, name)) {
                s = difu_fail(e, DIFU_ERR_INVALID_ARG, "%s: prefix '%s' is too long", path,
                              blocks[b].prefix);
                goto done;
            }
            o->name = full;
            o->dtype = DIFU_ST_F32;
            for (int d = 0; d < o->ndim; d++)
                o->shape[d] = shape[d];
            o->data = blocks[b].data + off[i];
        }
    for (int i = 0; i < n_extras; i++, k++) {
        difu_st_out *o = &outs[k];
        o->name = extras[i].name;
        o->dtype = extras[i].dtype;
        o->ndim = extras[i].ndim;
        memcpy(o->shape, extras[i].shape, sizeof o->shape);
        o->data = extras[i].data;
    }
    s = difu_model_config_to_json(e, difu_model_get_config(m), &config);
    if (s != DIFU_OK)
        goto done;
    if (!(digests = digest_json(outs, n))) {
        s = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
        goto done;
    }
    char img_size[16], in_ch[16];
    snprintf(img_size, sizeof img_size, "%d", difu_model_get_config(m)->img_size);
    snprintf(in_ch, sizeof in_ch, "%d", difu_model_get_config(m)->in_ch);
    const char *values[N_RESERVED] = {"1", config, img_size, in_ch, digests};
    for (int i = 0; i < N_RESERVED; i++)
        kv[i] = (difu_st_kv){reserved_keys[i], values[i]};
    for (int i = 0; i < n_meta; i++)
        kv[N_RESERVED + i] = (difu_st_kv){meta[i].key, meta[i].value};
    s = difu_st_write(e, path, outs, n, kv, N_RESERVED + n_meta);
done:
    free(config);
    cJSON_free(digests);
    free(kv);
    free(names);
    free(outs);
    free(off);
    return s;
}

/* ---------------------------------------------------------------- opening */

static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int i = 0;
    for (; s[i]; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0 || i >= 16)
            return 0;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return i == 16;
}

difu_status difu_checkpoint_stored_digests(difu_engine *e, const difu_safetensors *s,
                                           const char *source, uint64_t *digest, int *present,
                                           int *has_digests)
{
    *has_digests = 0;
    for (int i = 0; i < s->n_tensors; i++)
        present[i] = 0;
    const char *text = difu_st_meta_get(s, "difu.xxh3");
    if (!text)
        return DIFU_OK;
    cJSON *root = cJSON_Parse(text);
    difu_status st = DIFU_OK;
    if (!cJSON_IsObject(root))
        st = difu_fail(e, DIFU_ERR_FORMAT, "%s: difu.xxh3 is not a JSON object", source);
    const cJSON *item, *list = st == DIFU_OK ? root : NULL;
    cJSON_ArrayForEach(item, list)
    {
        const difu_st_tensor *t = difu_st_find(s, item->string);
        uint64_t v;
        if (!t) {
            st = difu_fail(e, DIFU_ERR_FORMAT,
                           "%s: tensor '%s' has a digest in difu.xxh3 but is not in the file", source,
                           item->string);
            break;
        }
        int i = (int)(t - s->tensors);
        if (!cJSON_IsString(item) || !parse_hex64(item->valuestring, &v) || present[i]) {
            st = difu_fail(e, DIFU_ERR_FORMAT,
                           "%s: difu.xxh3 entry of tensor '%s' is not one 16-hex-digit string",
                           source, item->string);
            break;
        }
        digest[i] = v;
        present[i] = 1;
    }
    cJSON_Delete(root);
    if (st == DIFU_OK)
        *has_digests = 1;
    return st;
}

static difu_status verify(difu_engine *e, const difu_safetensors *s, const char *path)
{
    const char *format = difu_st_meta_get(s, "difu.format");
    if (format && strcmp(format, "1") != 0)
        return difu_fail(e, DIFU_ERR_UNSUPPORTED,
                         "%s: checkpoint format '%s' is not supported (this build reads 1)", path,
                         format);
    int n = s->n_tensors, has = 0;
    uint64_t *digest = malloc((size_t)(n ? n : 1) * sizeof *digest);
    int *present = malloc((size_t)(n ? n : 1) * sizeof *present);
    difu_status st = DIFU_OK;
    if (!digest || !present)
        st = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
    if (st == DIFU_OK)
        st = difu_checkpoint_stored_digests(e, s, path, digest, present, &has);
    if (st == DIFU_OK && format && !has)
        st = difu_fail(e, DIFU_ERR_FORMAT, "%s: a difu checkpoint must hold difu.xxh3 digests", path);
    for (int i = 0; st == DIFU_OK && has && i < n; i++) {
        const difu_st_tensor *t = &s->tensors[i];
        if (!present[i]) {
            st = difu_fail(e, DIFU_ERR_FORMAT, "%s: tensor '%s' has no digest in difu.xxh3", path,
                           t->name);
            break;
        }
        uint64_t got = difu_st_digest(difu_st_data(s, t), t->end - t->begin);
        if (got != digest[i])
            st = difu_fail(e, DIFU_ERR_FORMAT,
                           "%s: tensor '%s' (bytes %zu..%zu of the file) fails its XXH3-64 digest "
                           "(stored %016llx, computed %016llx): the file is corrupt",
                           path, t->name, s->data_start + t->begin, s->data_start + t->end,
                           (unsigned long long)digest[i], (unsigned long long)got);
    }
    free(digest);
    free(present);
    return st;
}

difu_status difu_checkpoint_open(difu_engine *e, const char *path, difu_checkpoint **out)
{
    *out = NULL;
    if (!path)
        return difu_fail(e, DIFU_ERR_INVALID_ARG, "checkpoint open: no path");
    difu_safetensors *s = NULL;
    difu_status st = difu_st_read(e, path, &s);
    if (st != DIFU_OK)
        return st;
    st = verify(e, s, path);
    difu_checkpoint *c = st == DIFU_OK ? calloc(1, sizeof *c) : NULL;
    if (st == DIFU_OK && (!c || !(c->path = malloc(strlen(path) + 1)))) {
        free(c);
        c = NULL;
        st = difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (st != DIFU_OK) {
        difu_st_free(s);
        return st;
    }
    strcpy(c->path, path);
    c->e = e;
    c->st = s;
    *out = c;
    return DIFU_OK;
}

void difu_checkpoint_close(difu_checkpoint *c)
{
    if (!c)
        return;
    difu_st_free(c->st);
    free(c->path);
    free(c);
}

const difu_safetensors *difu_checkpoint_file(const difu_checkpoint *c) { return c->st; }
const char *difu_checkpoint_path(const difu_checkpoint *c) { return c->path; }

int difu_checkpoint_has_prefix(const difu_checkpoint *c, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < c->st->n_tensors; i++)
        if (strncmp(c->st->tensors[i].name, prefix, n) == 0)
            return 1;
    return 0;
}

int difu_checkpoint_has_config(const difu_checkpoint *c)
{
    return difu_st_meta_get(c->st, "difu.config") != NULL;
}

difu_status difu_checkpoint_check_writable(difu_engine *e, const char *path)
{
    return difu_st_check_writable(e, path);
}

/* ---------------------------------------------------------------- config */

/* A tensor of the given rank, or NULL. */
static const difu_st_tensor *find_nd(const difu_safetensors *s, int ndim, const char *fmt, int i)
{
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, fmt, i);
    const difu_st_tensor *t = difu_st_find(s, name);
    return t && t->ndim == ndim ? t : NULL;
}

/* The structure visible in the shapes; attention as a flag per level. */
typedef struct structure {
    difu_model_config cfg; /* ch, ch_mult, n_levels, num_res_blocks, num_classes, in_ch */
    int attn_level[DIFU_MODEL_MAX_LEVELS];
} structure;

static int level_res(int img_size, int level)
{
    int res = img_size;
    for (int l = 0; l < level; l++)
        res = (res - 1) / 2 + 1;
    return res;
}

static int same_structure(const structure *a, const structure *b)
{
    if (a->cfg.ch != b->cfg.ch || a->cfg.n_levels != b->cfg.n_levels ||
        a->cfg.num_res_blocks != b->cfg.num_res_blocks || a->cfg.num_classes != b->cfg.num_classes ||
        a->cfg.in_ch != b->cfg.in_ch)
        return 0;
    for (int l = 0; l < a->cfg.n_levels; l++)
        if (a->cfg.ch_mult[l] != b->cfg.ch_mult[l] || a->attn_level[l] != b->attn_level[l])
            return 0;
    return 1;
}

static structure preset_structure(const difu_model_config *p)
{
    structure s;
    memset(&s, 0, sizeof s);
    s.cfg = *p;
    for (int l = 0; l < p->n_levels; l++)
        for (int a = 0; a < p->n_attn_res; a++)
            s.attn_level[l] |= p->attn_res[a] == level_res(p->img_size, l);
    return s;
}

/* Reads the structure from the shapes, as tools/pytorch/predict.py's infer_config does. Returns
 * NULL or what is wrong. */
static const char *read_structure(const difu_safetensors *s, structure *out, char *why,
                                  size_t why_len)
{
    memset(out, 0, sizeof *out);
    difu_model_config *c = &out->cfg;
    const difu_st_tensor *w = find_nd(s, 4, "conv_in.weight", 0);
    if (!w)
        return "no 4-D tensor 'conv_in.weight'";
    c->ch = (int)(w->shape[0] < 1 << 20 ? w->shape[0] : 0);
    c->in_ch = (int)(w->shape[1] < 1 << 20 ? w->shape[1] : 0);
    if (c->ch < 1 || c->in_ch < 1)
        return "'conv_in.weight' has an empty or huge shape";
    const difu_st_tensor *emb = difu_st_find(s, "class_emb.weight");
    if (emb) {
        if (emb->ndim != 2 || emb->shape[0] < 2 || emb->shape[0] > 1000001)
            return "'class_emb.weight' is not [classes + 1, dim] with at least 2 rows";
        c->num_classes = (int)emb->shape[0] - 1;
    }
    /* the entries down.<i>: indices 0..count-1, each a ResBlock or a Downsample */
    enum { MAX_ENTRIES = 256 };
    unsigned char seen[MAX_ENTRIES] = {0};
    int count = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const char *name = s->tensors[i].name;
        if (strncmp(name, "down.", 5) != 0)
            continue;
        char *end = NULL;
        long idx = strtol(name + 5, &end, 10);
        if (end == name + 5 || *end != '.' || idx < 0 || idx >= MAX_ENTRIES)
            return "a 'down.' tensor name has no valid entry index";
        seen[idx] = 1;
        count = (int)idx + 1 > count ? (int)idx + 1 : count;
    }
    int is_down[MAX_ENTRIES], ndown = 0;
    for (int i = 0; i < count; i++) {
        if (!seen[i]) {
            snprintf(why, why_len, "no tensors of entry down.%d", i);
            return why;
        }
        is_down[i] = find_nd(s, 4, "down.%d.0.conv.weight", i) != NULL;
        ndown += is_down[i];
    }
    c->n_levels = ndown + 1;
    if (count == 0 || c->n_levels > DIFU_MODEL_MAX_LEVELS || (count - ndown) % c->n_levels)
        return "the down.* entries do not form levels of equal ResBlock counts";
    c->num_res_blocks = (count - ndown) / c->n_levels;
    for (int level = 0, i = 0; level < c->n_levels; level++) {
        for (int r = 0; r < c->num_res_blocks; r++, i++) {
            const difu_st_tensor *conv1 = find_nd(s, 4, "down.%d.0.conv1.weight", i);
            if (is_down[i] || !conv1) {
                snprintf(why, why_len, "down.%d should be a ResBlock (with conv1.weight)", i);
                return why;
            }
            if (r == 0) {
                if (conv1->shape[0] % c->ch != 0 || conv1->shape[0] / c->ch > 64) {
                    snprintf(why, why_len, "down.%d has %lld channels, not a multiple of %d", i,
                             (long long)conv1->shape[0], c->ch);
                    return why;
                }
                c->ch_mult[level] = (int)(conv1->shape[0] / c->ch);
            }
            out->attn_level[level] |= find_nd(s, 4, "down.%d.1.qkv.weight", i) != NULL;
        }
        if (level + 1 < c->n_levels && !is_down[i++]) {
            snprintf(why, why_len, "down.%d should be a Downsample", i - 1);
            return why;
        }
    }
    return NULL;
}

static difu_status infer_config(difu_checkpoint *c, int img_size, difu_model_config *out)
{
    structure st;
    char why_buf[256];
    const char *why = read_structure(c->st, &st, why_buf, sizeof why_buf);
    if (why)
        return difu_fail(c->e, DIFU_ERR_FORMAT,
                         "%s: no difu.config metadata, and the model cannot be inferred from the "
                         "tensor shapes: %s",
                         c->path, why);
    difu_model_config cfg = st.cfg;
    static const char *const presets[] = {"fmnist-t", "fmnist-s", "tiny"};
    const difu_model_config *match = NULL;
    difu_model_config p;
    for (int i = 0; i < 3 && !match; i++)
        if (difu_model_preset(NULL, presets[i], &p) == DIFU_OK) {
            structure ps = preset_structure(&p);
            if (same_structure(&ps, &st))
                match = &p;
        }
    if (match) {
        /* GroupNorm group counts are invisible in the shapes: a preset of the same structure
         * supplies its rule (and its image size when the caller gives none) */
        cfg.n_groups = match->n_groups;
        memcpy(cfg.groups, match->groups, sizeof cfg.groups);
        cfg.gn_eps = match->gn_eps;
        cfg.img_size = img_size > 0 ? img_size : match->img_size;
    } else {
        /* no known structure: 32 groups everywhere (the DDPM default) */
        cfg.n_groups = 1;
        cfg.groups[0][0] = 0;
        cfg.groups[0][1] = 32;
        cfg.gn_eps = 1e-6f;
        cfg.img_size = img_size > 0 ? img_size : 28;
    }
    cfg.dropout = 0;
    cfg.n_attn_res = 0;
    for (int l = 0; l < cfg.n_levels; l++) {
        int res = level_res(cfg.img_size, l), dup = 0;
        for (int a = 0; a < cfg.n_attn_res; a++)
            dup |= cfg.attn_res[a] == res;
        if (st.attn_level[l] && !dup)
            cfg.attn_res[cfg.n_attn_res++] = res;
    }
    if (difu_model_config_check(c->e, &cfg) != DIFU_OK) {
        char msg[DIFU_ERROR_LEN];
        snprintf(msg, sizeof msg, "%s", difu_engine_last_error(c->e));
        return difu_fail(c->e, DIFU_ERR_FORMAT,
                         "%s: no difu.config metadata, and the config inferred from the shapes is "
                         "invalid: %s",
                         c->path, msg);
    }
    *out = cfg;
    return DIFU_OK;
}

static difu_status meta_int_agrees(difu_checkpoint *c, const char *key, int want)
{
    const char *v = difu_st_meta_get(c->st, key);
    if (!v)
        return DIFU_OK;
    char *end = NULL;
    long got = strtol(v, &end, 10);
    if (!*v || *end || got != want)
        return difu_fail(c->e, DIFU_ERR_FORMAT, "%s: metadata %s = '%s' disagrees with difu.config (%d)",
                         c->path, key, v, want);
    return DIFU_OK;
}

difu_status difu_checkpoint_config_for(difu_checkpoint *c, int img_size, difu_model_config *cfg)
{
    const char *json = difu_st_meta_get(c->st, "difu.config");
    if (!json)
        return infer_config(c, img_size, cfg);
    difu_model_config got;
    if (difu_model_config_from_json(c->e, json, &got) != DIFU_OK) {
        char msg[DIFU_ERROR_LEN];
        snprintf(msg, sizeof msg, "%s", difu_engine_last_error(c->e));
        return difu_fail(c->e, DIFU_ERR_FORMAT, "%s: %s", c->path, msg);
    }
    difu_status s = meta_int_agrees(c, "difu.img_size", got.img_size);
    if (s == DIFU_OK)
        s = meta_int_agrees(c, "difu.in_ch", got.in_ch);
    if (s == DIFU_OK)
        *cfg = got;
    return s;
}

difu_status difu_checkpoint_config(difu_checkpoint *c, difu_model_config *cfg)
{
    return difu_checkpoint_config_for(c, 0, cfg);
}

/* ---------------------------------------------------------------- loading */

difu_status difu_checkpoint_load_block(difu_checkpoint *c, difu_model *m, const char *prefix,
                                       float *block)
{
    if (!m)
        return difu_fail(c->e, DIFU_ERR_INVALID_ARG, "checkpoint load: no model");
    size_t n_floats = 0;
    float *own = difu_model_params(m, &n_floats);
    float *dst = block ? block : own;
    size_t *off = NULL;
    difu_status s = model_offsets(c->e, m, &off);
    if (s != DIFU_OK)
        return s;
    int T = difu_model_tensor_count(m);
    const difu_st_tensor **src = calloc((size_t)(T > 0 ? T : 1), sizeof *src);
    if (!src) {
        free(off);
        return difu_fail(c->e, DIFU_ERR_NO_MEMORY, "%s: out of memory", c->path);
    }
    /* every tensor is checked before any is copied: on failure the block is untouched */
    for (int i = 0; i < T && s == DIFU_OK; i++) {
        int ndim;
        int64_t shape[DIFU_MAX_DIMS];
        const char *name = difu_model_tensor_info(m, i, &ndim, shape);
        char full[NAME_MAX_LEN];
        if (!join(full, prefix, name)) {
            s = difu_fail(c->e, DIFU_ERR_INVALID_ARG, "%s: prefix '%s' is too long", c->path, prefix);
            break;
        }
        const difu_st_tensor *t = difu_st_find(c->st, full);
        int same = t && t->ndim == ndim;
        for (int d = 0; same && d < ndim; d++)
            same = t->shape[d] == shape[d];
        char have[128], want[128];
        if (!t) {
            s = difu_fail(c->e, DIFU_ERR_FORMAT, "%s: tensor '%s' is missing", c->path, full);
        } else if (t->dtype != DIFU_ST_F32) {
            s = difu_fail(c->e, DIFU_ERR_FORMAT, "%s: tensor '%s' has dtype %s, the model needs F32",
                          c->path, full, difu_st_dtype_name(t->dtype));
        } else if (!same) {
            shape_text(have, sizeof have, t->ndim, t->shape);
            shape_text(want, sizeof want, ndim, shape);
            s = difu_fail(c->e, DIFU_ERR_FORMAT, "%s: tensor '%s' has shape %s, the model needs %s",
                          c->path, full, have, want);
        }
        src[i] = t;
    }
    for (int i = 0; i < T && s == DIFU_OK; i++) {
        size_t count = (size_t)difu_st_numel(src[i]);
        size_t next = i + 1 < T ? off[i + 1] : n_floats;
        memcpy(dst + off[i], difu_st_data(c->st, src[i]), count * sizeof(float));
        memset(dst + off[i] + count, 0, (next - off[i] - count) * sizeof(float)); /* padding */
    }
    free(src);
    free(off);
    return s;
}
