/* safetensors.c: the strict safetensors reader (see safetensors.h), header parsed with cJSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "safetensors.h"

#define MAX_HEADER ((uint64_t)100 << 20)

static const char *const dtype_names[DIFU_ST_DTYPE_COUNT] = {"F32", "F64", "I64", "I32"};
static const size_t dtype_sizes[DIFU_ST_DTYPE_COUNT] = {4, 8, 8, 4};

const char *difu_st_dtype_name(difu_st_dtype d)
{
    return (d >= 0 && d < DIFU_ST_DTYPE_COUNT) ? dtype_names[d] : "?";
}

size_t difu_st_dtype_size(difu_st_dtype d)
{
    return (d >= 0 && d < DIFU_ST_DTYPE_COUNT) ? dtype_sizes[d] : 0;
}

int64_t difu_st_numel(const difu_st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

void difu_st_free(difu_safetensors *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_tensors; i++)
        free(s->tensors[i].name);
    for (int i = 0; i < s->n_meta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].value);
    }
    free(s->tensors);
    free(s->meta);
    free(s->bytes);
    free(s);
}

const difu_st_tensor *difu_st_find(const difu_safetensors *s, const char *name)
{
    for (int i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0)
            return &s->tensors[i];
    return NULL;
}

const void *difu_st_data(const difu_safetensors *s, const difu_st_tensor *t)
{
    return s->bytes + s->data_start + t->begin;
}

const char *difu_st_meta_get(const difu_safetensors *s, const char *key)
{
    for (int i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].key, key) == 0)
            return s->meta[i].value;
    return NULL;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int as_index(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int by_begin(const void *a, const void *b)
{
    const difu_st_tensor *x = *(const difu_st_tensor *const *)a, *y = *(const difu_st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const difu_st_tensor *const *)a)->name, (*(const difu_st_tensor *const *)b)->name);
}

/* Parses one tensor entry; on error writes msg. */
static int parse_entry(const cJSON *item, difu_st_tensor *t, size_t data_len, char *msg, size_t len)
{
    const char *name = item->string;
    int fields = cJSON_GetArraySize(item);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || fields != 3 || !dt || !sh || !of) {
        snprintf(msg, len, "tensor '%s' needs exactly dtype, shape, data_offsets", name);
        return 1;
    }
    t->dtype = DIFU_ST_DTYPE_COUNT;
    for (int d = 0; d < DIFU_ST_DTYPE_COUNT && cJSON_IsString(dt); d++)
        if (strcmp(dt->valuestring, dtype_names[d]) == 0)
            t->dtype = (difu_st_dtype)d;
    if (t->dtype == DIFU_ST_DTYPE_COUNT) {
        snprintf(msg, len, "tensor '%s' has unsupported dtype %s", name,
                 cJSON_IsString(dt) ? dt->valuestring : "(not a string)");
        return 1;
    }
    int ndim = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
    if (ndim < 0 || ndim > DIFU_ST_MAX_DIMS) {
        snprintf(msg, len, "tensor '%s' has a bad shape", name);
        return 1;
    }
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t d;
        if (!as_index(cJSON_GetArrayItem(sh, i), &d) || d > ((uint64_t)1 << 40)) {
            snprintf(msg, len, "tensor '%s' has a bad shape (dim %d)", name, i);
            return 1;
        }
        t->shape[i] = (int64_t)d;
        numel = d == 0 ? 0 : numel * d;
        if (numel > ((uint64_t)1 << 48)) {
            snprintf(msg, len, "tensor '%s' is too large", name);
            return 1;
        }
    }
    uint64_t b, e;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !as_index(cJSON_GetArrayItem(of, 0), &b) ||
        !as_index(cJSON_GetArrayItem(of, 1), &e)) {
        snprintf(msg, len, "tensor '%s' has bad data_offsets", name);
        return 1;
    }
    if (e < b || e > data_len) {
        snprintf(msg, len, "tensor '%s' offsets [%llu, %llu] outside the %zu-byte data buffer", name,
                 (unsigned long long)b, (unsigned long long)e, data_len);
        return 1;
    }
    uint64_t want = numel * dtype_sizes[t->dtype];
    if (e - b != want) {
        snprintf(msg, len, "tensor '%s' %s needs %llu bytes, offsets give %llu", name,
                 dtype_names[t->dtype], (unsigned long long)want, (unsigned long long)(e - b));
        return 1;
    }
    t->begin = (size_t)b;
    t->end = (size_t)e;
    return 0;
}

static int parse_header(difu_safetensors *s, const cJSON *root, char *msg, size_t len)
{
    size_t data_len = s->size - s->data_start;
    int count = cJSON_GetArraySize(root);
    s->tensors = calloc((size_t)(count ? count : 1), sizeof *s->tensors);
    difu_st_tensor **order = calloc((size_t)(count ? count : 1), sizeof *order);
    if (!s->tensors || !order) {
        free(order);
        snprintf(msg, len, "out of memory");
        return 1;
    }
    const cJSON *item;
    int bad = 0;
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (s->meta || !cJSON_IsObject(item)) {
                snprintf(msg, len, "__metadata__ must be one object mapping str to str");
                bad = 1;
                break;
            }
            int nm = cJSON_GetArraySize(item);
            s->meta = calloc((size_t)(nm ? nm : 1), sizeof *s->meta);
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item)
            {
                if (!cJSON_IsString(kv)) {
                    snprintf(msg, len, "__metadata__ value of '%s' is not a string", kv->string);
                    bad = 1;
                    break;
                }
                s->meta[s->n_meta].key = dup(kv->string);
                s->meta[s->n_meta].value = dup(kv->valuestring);
                s->n_meta++;
            }
            if (bad)
                break;
            continue;
        }
        difu_st_tensor *t = &s->tensors[s->n_tensors];
        if (item->string[0] == 0) {
            snprintf(msg, len, "a tensor has an empty name");
            bad = 1;
            break;
        }
        t->name = dup(item->string);
        s->n_tensors++;
        if (parse_entry(item, t, data_len, msg, len)) {
            bad = 1;
            break;
        }
        order[s->n_tensors - 1] = t;
    }
    if (!bad) {
        qsort(order, (size_t)s->n_tensors, sizeof *order, by_name);
        for (int i = 1; i < s->n_tensors && !bad; i++)
            if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
                snprintf(msg, len, "duplicate tensor '%s' in header", order[i]->name);
                bad = 1;
            }
    }
    if (!bad) {
        qsort(order, (size_t)s->n_tensors, sizeof *order, by_begin);
        size_t at = 0;
        for (int i = 0; i < s->n_tensors && !bad; i++) {
            if (order[i]->begin != at) {
                snprintf(msg, len, "tensor '%s' starts at byte %zu of the data, expected %zu (%s)",
                         order[i]->name, order[i]->begin, at,
                         order[i]->begin < at ? "overlap" : "gap");
                bad = 1;
            }
            at = order[i]->end;
        }
        if (!bad && at != data_len) {
            snprintf(msg, len, "the tensors cover %zu bytes, the data buffer has %zu", at, data_len);
            bad = 1;
        }
    }
    free(order);
    return bad;
}

difu_status difu_st_parse(difu_engine *e, const void *bytes, size_t size, const char *source,
                          difu_safetensors **out)
{
    *out = NULL;
    if (size < 8)
        return difu_fail(e, DIFU_ERR_FORMAT, "%s: %zu bytes, too short for the header length", source,
                         size);
    const unsigned char *b = bytes;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | b[i];
    if (n < 2 || n > MAX_HEADER || n > size - 8)
        return difu_fail(e, DIFU_ERR_FORMAT, "%s: header length %llu out of range (file is %zu bytes)",
                         source, (unsigned long long)n, size);
    difu_safetensors *s = calloc(1, sizeof *s);
    if (!s || !(s->bytes = malloc(size ? size : 1))) {
        free(s);
        return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", source);
    }
    memcpy(s->bytes, bytes, size);
    s->size = size;
    s->data_start = 8 + (size_t)n;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)s->bytes + 8, (size_t)n, &end, 0);
    char msg[DIFU_ERROR_LEN] = "";
    int bad = 0;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(msg, sizeof msg, "header is not a JSON object");
        bad = 1;
    } else {
        /* only spaces may follow the object inside the header */
        for (const char *p = end; p < (const char *)s->bytes + 8 + n; p++)
            if (*p != ' ' && *p != 0 && *p != '\n' && *p != '\t' && *p != '\r') {
                snprintf(msg, sizeof msg, "header has bytes after its JSON object");
                bad = 1;
                break;
            }
        if (!bad)
            bad = parse_header(s, root, msg, sizeof msg);
    }
    cJSON_Delete(root);
    if (bad) {
        difu_st_free(s);
        return difu_fail(e, DIFU_ERR_FORMAT, "%s: %s", source, msg);
    }
    *out = s;
    return DIFU_OK;
}

difu_status difu_st_read(difu_engine *e, const char *path, difu_safetensors **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return difu_fail(e, DIFU_ERR_IO, "%s: cannot open", path);
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : (1 << 20);
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return difu_fail(e, DIFU_ERR_NO_MEMORY, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return difu_fail(e, DIFU_ERR_IO, "%s: read error", path);
    }
    difu_status s = difu_st_parse(e, buf, size, path, out);
    free(buf);
    return s;
}
