/* cmd_digest.c: `difu digest FILE...`: the XXH3-64 of every tensor of safetensors files, checked
 * against the digests a difu checkpoint stores, plus two digests per file to compare runs: one of
 * the tensors alone (names, dtypes, shapes and bytes, in name order: metadata does not count)
 * and one of every byte of the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "checkpoint.h"
#include "cli.h"

static const char usage_text[] =
    "usage: difu digest FILE.safetensors...\n"
    "For each file: one line per tensor (XXH3-64 of its bytes, dtype, shape, name, and 'ok' or\n"
    "'MISMATCH' when the file stores digests), then\n"
    "  <xxh3>  tensors  FILE   names, dtypes, shapes and bytes of all tensors (not metadata)\n"
    "  <xxh3>  file     FILE   every byte of the file\n"
    "Exit status 1 when a file cannot be read or a tensor fails its stored digest.\n";

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const difu_st_tensor *const *)a)->name, (*(const difu_st_tensor *const *)b)->name);
}

/* XXH3-64 over (name, dtype, shape, digest) of every tensor in name order. */
static uint64_t tensors_digest(const difu_safetensors *s, const uint64_t *digest, int *oom)
{
    int n = s->n_tensors;
    const difu_st_tensor **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    XXH3_state_t *h = XXH3_createState();
    uint64_t out = 0;
    *oom = !order || !h;
    if (!*oom) {
        for (int i = 0; i < n; i++)
            order[i] = &s->tensors[i];
        qsort(order, (size_t)n, sizeof *order, by_name);
        XXH3_64bits_reset(h);
        for (int i = 0; i < n; i++) {
            const difu_st_tensor *t = order[i];
            int64_t rec[2 + DIFU_ST_MAX_DIMS] = {t->dtype, t->ndim};
            memcpy(rec + 2, t->shape, (size_t)t->ndim * sizeof *rec);
            XXH3_64bits_update(h, t->name, strlen(t->name) + 1);
            XXH3_64bits_update(h, rec, (size_t)(2 + t->ndim) * sizeof *rec);
            XXH3_64bits_update(h, &digest[t - s->tensors], sizeof *digest);
        }
        out = XXH3_64bits_digest(h);
    }
    XXH3_freeState(h);
    free(order);
    return out;
}

static int digest_file(difu_engine *e, const char *path)
{
    difu_safetensors *s = NULL;
    if (difu_st_read(e, path, &s) != DIFU_OK) {
        fprintf(stderr, "difu digest: %s\n", difu_engine_last_error(e));
        return 1;
    }
    int n = s->n_tensors, has = 0, bad = 0, oom = 0;
    uint64_t *stored = malloc((size_t)(n ? n : 1) * sizeof *stored);
    uint64_t *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    int *present = malloc((size_t)(n ? n : 1) * sizeof *present);
    if (!stored || !got || !present) {
        fprintf(stderr, "difu digest: %s: out of memory\n", path);
        bad = 1;
    } else if (difu_checkpoint_stored_digests(e, s, path, stored, present, &has) != DIFU_OK) {
        fprintf(stderr, "difu digest: %s\n", difu_engine_last_error(e));
        bad = 1;
        has = 0;
    }
    printf("# %s: %d tensors, %s\n", path, n,
           has ? "stored digests checked" : "no stored digests (difu.xxh3) to check");
    for (int i = 0; !oom && stored && got && present && i < n; i++) {
        const difu_st_tensor *t = &s->tensors[i];
        got[i] = difu_st_digest(difu_st_data(s, t), t->end - t->begin);
        char shape[160];
        size_t at = (size_t)snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->ndim && at < sizeof shape; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? ", " : "",
                                   (long long)t->shape[d]);
        if (at < sizeof shape)
            snprintf(shape + at, sizeof shape - at, "]");
        const char *verdict = "";
        if (has && !present[i])
            verdict = "  NO STORED DIGEST";
        else if (has)
            verdict = got[i] == stored[i] ? "  ok" : "  MISMATCH";
        printf("%016llx  %s  %s  %s%s\n", (unsigned long long)got[i], difu_st_dtype_name(t->dtype),
               shape, t->name, verdict);
        if (has && (!present[i] || got[i] != stored[i])) {
            fprintf(stderr, "difu digest: %s: tensor '%s' %s (stored %016llx, computed %016llx)\n",
                    path, t->name, present[i] ? "fails its digest: the file is corrupt"
                                              : "has no stored digest",
                    (unsigned long long)(present[i] ? stored[i] : 0), (unsigned long long)got[i]);
            bad = 1;
        }
    }
    if (got && !bad) {
        uint64_t td = tensors_digest(s, got, &oom);
        if (oom) {
            fprintf(stderr, "difu digest: %s: out of memory\n", path);
            bad = 1;
        } else {
            printf("%016llx  tensors  %s\n", (unsigned long long)td, path);
        }
    }
    printf("%016llx  file     %s\n", (unsigned long long)XXH3_64bits(s->bytes, s->size), path);
    free(stored);
    free(got);
    free(present);
    difu_st_free(s);
    return bad;
}

int difu_cmd_digest(int argc, char **argv)
{
    /* options come first; "--" ends them (for file names that start with '-') */
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
            printf("%s", usage_text);
            return 0;
        }
        fprintf(stderr, "difu digest: unknown option '%s' (see difu digest --help)\n", argv[first]);
        return 2;
    }
    if (first >= argc) {
        fprintf(stderr, "difu digest: no files given\n%s", usage_text);
        return 2;
    }
    difu_engine_params p = difu_engine_params_default();
    p.threads = 1;
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu digest: %s\n", err);
        return 1;
    }
    int rc = 0;
    for (int i = first; i < argc; i++)
        rc |= digest_file(e, argv[i]);
    difu_engine_destroy(e);
    return rc;
}
