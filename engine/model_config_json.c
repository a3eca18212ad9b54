/* model_config_json.c: the "difu.config" JSON of a model config (schema: tools/pytorch/README.md).
 * Encoding is by hand so the text matches Python's json.dumps(separators=(",", ":")) byte for
 * byte; decoding uses cJSON. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model_config_json.h"

/* ---------------------------------------------------------------- encoding */

typedef struct text {
    char buf[2048];
    size_t len;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - t->len - 1;
}

/* A float as Python's repr() prints the double nearest to its shortest round-trip decimal: the
 * fewest significant digits that give back the same float, positional for exponents in
 * [-4, 16) with at least one decimal ("0.0", "0.1"), else "1e-05" / "1.5e+16". */
static void put_float(text *t, float v)
{
    if (v == 0) {
        put(t, "%s", signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char sci[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, (double)v);
        if (strtof(sci, NULL) == v)
            break;
    }
    /* sci = [-]d[.ddd]e[+-]XX */
    char digits[16];
    int nd = 0, neg = sci[0] == '-';
    const char *p = sci + neg;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = 0;
    int exp = atoi(p + 1);
    if (neg)
        put(t, "-");
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            put(t, "0.");
            for (int i = -1; i > exp; i--)
                put(t, "0");
            put(t, "%s", digits);
        } else {
            for (int i = 0; i <= exp; i++)
                put(t, "%c", i < nd ? digits[i] : '0');
            put(t, ".");
            if (nd > exp + 1)
                put(t, "%s", digits + exp + 1);
            else
                put(t, "0");
        }
    } else {
        put(t, "%c", digits[0]);
        if (nd > 1)
            put(t, ".%s", digits + 1);
        put(t, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

static void put_ints(text *t, const int *v, int n)
{
    put(t, "[");
    for (int i = 0; i < n; i++)
        put(t, "%s%d", i ? "," : "", v[i]);
    put(t, "]");
}

difu_status difu_model_config_to_json(difu_engine *e, const difu_model_config *c, char **out)
{
    *out = NULL;
    if (c->n_levels < 0 || c->n_levels > DIFU_MODEL_MAX_LEVELS || c->n_attn_res < 0 ||
        c->n_attn_res > DIFU_MODEL_MAX_LEVELS || c->n_groups < 0 ||
        c->n_groups > DIFU_MODEL_MAX_LEVELS)
        return difu_fail(e, DIFU_ERR_INVALID_ARG,
                         "difu.config: n_levels %d, n_attn_res %d or n_groups %d outside [0, %d]",
                         c->n_levels, c->n_attn_res, c->n_groups, DIFU_MODEL_MAX_LEVELS);
    text t = {.len = 0};
    t.buf[0] = 0;
    put(&t, "{\"ch\":%d,\"ch_mult\":", c->ch);
    put_ints(&t, c->ch_mult, c->n_levels);
    put(&t, ",\"num_res_blocks\":%d,\"attn_res\":", c->num_res_blocks);
    put_ints(&t, c->attn_res, c->n_attn_res);
    put(&t, ",\"dropout\":");
    put_float(&t, c->dropout);
    put(&t, ",\"num_classes\":%d,\"groups\":[", c->num_classes);
    for (int i = 0; i < c->n_groups; i++)
        put(&t, "%s[%d,%d]", i ? "," : "", c->groups[i][0], c->groups[i][1]);
    put(&t, "],\"gn_eps\":");
    put_float(&t, c->gn_eps);
    put(&t, ",\"img_size\":%d,\"in_ch\":%d}", c->img_size, c->in_ch);
    char *s = malloc(t.len + 1);
    if (!s)
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "difu.config: out of memory");
    memcpy(s, t.buf, t.len + 1);
    *out = s;
    return DIFU_OK;
}

/* ---------------------------------------------------------------- decoding */

static int get_int(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || floor(d) != d)
        return 0;
    *out = (int)d;
    return 1;
}

static int get_float(const cJSON *v, float *out)
{
    /* finite as a float too: 1e106 would become inf (found by fuzz/fuzz_model_config) */
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= FLT_MAX))
        return 0;
    *out = (float)v->valuedouble;
    return 1;
}

/* An array of 0..DIFU_MODEL_MAX_LEVELS ints; returns the count or -1. */
static int get_int_array(const cJSON *v, int *out)
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > DIFU_MODEL_MAX_LEVELS)
        return -1;
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, v)
    {
        if (!get_int(item, &out[n]))
            return -1;
        n++;
    }
    return n;
}

static const char *const keys[] = {"ch",          "ch_mult", "num_res_blocks", "attn_res",
                                   "dropout",     "num_classes", "groups",     "gn_eps",
                                   "img_size",    "in_ch"};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

/* Fills c from the object; returns NULL or the name of the bad key. */
static const char *decode(const cJSON *root, difu_model_config *c, const char **why)
{
    *why = "is missing";
    for (int k = 0; k < N_KEYS; k++)
        if (!cJSON_GetObjectItemCaseSensitive(root, keys[k]))
            return keys[k];
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        int known = 0;
        for (int k = 0; k < N_KEYS; k++)
            known |= strcmp(item->string, keys[k]) == 0;
        if (!known) {
            *why = "is not a key of the schema";
            return item->string;
        }
    }
#define GET(name) cJSON_GetObjectItemCaseSensitive(root, name)
    *why = "must be an integer";
    if (!get_int(GET("ch"), &c->ch))
        return "ch";
    if (!get_int(GET("num_res_blocks"), &c->num_res_blocks))
        return "num_res_blocks";
    if (!get_int(GET("img_size"), &c->img_size))
        return "img_size";
    if (!get_int(GET("in_ch"), &c->in_ch))
        return "in_ch";
    const cJSON *nc = GET("num_classes");
    if (cJSON_IsNull(nc))
        c->num_classes = 0;
    else if (!get_int(nc, &c->num_classes))
        return "num_classes";
    *why = "must be a finite number";
    if (!get_float(GET("dropout"), &c->dropout))
        return "dropout";
    if (!get_float(GET("gn_eps"), &c->gn_eps))
        return "gn_eps";
    *why = "must be an array of at most 8 integers";
    if ((c->n_levels = get_int_array(GET("ch_mult"), c->ch_mult)) < 0)
        return "ch_mult";
    if ((c->n_attn_res = get_int_array(GET("attn_res"), c->attn_res)) < 0)
        return "attn_res";
    *why = "must be an array of at most 8 [min_channels, groups] integer pairs";
    const cJSON *g = GET("groups");
    if (!cJSON_IsArray(g) || cJSON_GetArraySize(g) > DIFU_MODEL_MAX_LEVELS)
        return "groups";
    c->n_groups = 0;
    cJSON_ArrayForEach(item, g)
    {
        if (get_int_array(item, c->groups[c->n_groups]) != 2)
            return "groups";
        c->n_groups++;
    }
#undef GET
    return NULL;
}

difu_status difu_model_config_from_json(difu_engine *e, const char *json, difu_model_config *out)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return difu_fail(e, DIFU_ERR_FORMAT, "difu.config: not a JSON object");
    }
    difu_model_config c;
    memset(&c, 0, sizeof c);
    const char *why = NULL;
    const char *badkey = decode(root, &c, &why);
    difu_status s = DIFU_OK;
    if (badkey)
        s = difu_fail(e, DIFU_ERR_FORMAT, "difu.config: \"%s\" %s", badkey, why);
    cJSON_Delete(root);
    if (s != DIFU_OK)
        return s;
    if (difu_model_config_check(e, &c) != DIFU_OK) {
        char why_check[DIFU_ERROR_LEN];
        snprintf(why_check, sizeof why_check, "%s", difu_engine_last_error(e));
        return difu_fail(e, DIFU_ERR_FORMAT, "difu.config: %s", why_check);
    }
    *out = c;
    return DIFU_OK;
}
