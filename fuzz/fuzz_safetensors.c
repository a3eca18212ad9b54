/* fuzz_safetensors.c: the safetensors reader (difu_st_parse) on arbitrary bytes. A file it accepts
 * must satisfy what safetensors.h promises (tensors tile the data buffer, sizes = numel * itemsize,
 * unique names), its digests metadata is checked like a checkpoint's, and it must survive a
 * write + re-read with the same tensors, bytes and metadata. */
#include "fuzz_util.h"
#include "checkpoint.h"
#include "safetensors.h"

static void check_accepted(const difu_safetensors *s, size_t size)
{
    FUZZ_CHECK(s->data_start >= 10 && s->data_start <= size, "data_start %zu of %zu",
               s->data_start, size);
    size_t data_len = size - s->data_start, covered = 0;
    for (int i = 0; i < s->n_tensors; i++) {
        const difu_st_tensor *t = &s->tensors[i];
        FUZZ_CHECK(t->name && t->name[0], "tensor %d has no name", i);
        FUZZ_CHECK(difu_st_find(s, t->name) == t, "tensor '%s' is not unique", t->name);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= DIFU_ST_MAX_DIMS, "ndim %d", t->ndim);
        FUZZ_CHECK(t->begin <= t->end && t->end <= data_len, "tensor '%s' [%zu, %zu) of %zu",
                   t->name, t->begin, t->end, data_len);
        FUZZ_CHECK((uint64_t)difu_st_numel(t) * difu_st_dtype_size(t->dtype) == t->end - t->begin,
                   "tensor '%s' size", t->name);
        covered += t->end - t->begin;
        /* touch every byte so ASan sees an out-of-bounds view */
        (void)difu_st_digest(difu_st_data(s, t), t->end - t->begin);
    }
    FUZZ_CHECK(covered == data_len, "tensors cover %zu of %zu bytes", covered, data_len);
    for (int i = 0; i < s->n_meta; i++)
        FUZZ_CHECK(difu_st_meta_get(s, s->meta[i].key) != NULL, "meta '%s'", s->meta[i].key);
}

/* Writes s back out and reads it again: same tensors, bytes and metadata. */
static void check_round_trip(difu_engine *e, const difu_safetensors *s)
{
    difu_st_out *outs = calloc((size_t)s->n_tensors + 1, sizeof *outs);
    difu_st_kv *kv = calloc((size_t)s->n_meta + 1, sizeof *kv);
    FUZZ_CHECK(outs && kv, "out of memory");
    for (int i = 0; i < s->n_tensors; i++) {
        const difu_st_tensor *t = &s->tensors[i];
        outs[i].name = t->name;
        outs[i].dtype = t->dtype;
        outs[i].ndim = t->ndim;
        memcpy(outs[i].shape, t->shape, sizeof t->shape);
        outs[i].data = difu_st_data(s, t);
    }
    for (int i = 0; i < s->n_meta; i++)
        kv[i] = (difu_st_kv){s->meta[i].key, s->meta[i].value};
    char path[512];
    fuzz_path(path, sizeof path, "round-trip.safetensors");
    /* the writer is stricter (e.g. unique metadata keys): only its successes are compared */
    if (difu_st_write(e, path, outs, s->n_tensors, kv, s->n_meta) == DIFU_OK) {
        difu_safetensors *r = NULL;
        FUZZ_CHECK(difu_st_read(e, path, &r) == DIFU_OK, "re-read failed: %s",
                   difu_engine_last_error(e));
        FUZZ_CHECK(r->n_tensors == s->n_tensors && r->n_meta == s->n_meta, "counts differ");
        for (int i = 0; i < s->n_tensors; i++) {
            const difu_st_tensor *a = &s->tensors[i], *b = difu_st_find(r, a->name);
            FUZZ_CHECK(b && b->dtype == a->dtype && b->ndim == a->ndim &&
                       memcmp(b->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 &&
                       b->end - b->begin == a->end - a->begin &&
                       memcmp(difu_st_data(r, b), difu_st_data(s, a), a->end - a->begin) == 0,
                       "tensor '%s' differs after the round trip", a->name);
        }
        for (int i = 0; i < s->n_meta; i++) {
            const char *v = difu_st_meta_get(r, s->meta[i].key);
            FUZZ_CHECK(v && strcmp(v, s->meta[i].value) == 0, "meta '%s' differs",
                       s->meta[i].key);
        }
        difu_st_free(r);
    } else {
        fuzz_check_message(difu_engine_last_error(e));
    }
    free(outs);
    free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    difu_engine *e = fuzz_engine();
    difu_safetensors *s = (difu_safetensors *)1;
    if (difu_st_parse(e, data, size, "fuzz.safetensors", &s) != DIFU_OK) {
        FUZZ_CHECK(s == NULL, "failure left an output");
        fuzz_check_message(difu_engine_last_error(e));
        return 0;
    }
    check_accepted(s, size);
    int n = s->n_tensors;
    uint64_t *digest = malloc(((size_t)n + 1) * sizeof *digest);
    int *present = malloc(((size_t)n + 1) * sizeof *present);
    int has = 0;
    if (difu_checkpoint_stored_digests(e, s, "fuzz", digest, present, &has) != DIFU_OK)
        fuzz_check_message(difu_engine_last_error(e));
    free(digest);
    free(present);
    check_round_trip(e, s);
    difu_st_free(s);
    return 0;
}
