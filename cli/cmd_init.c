/* cmd_init.c: `difu init --model NAME --seed S --out FILE.safetensors`: a freshly initialised
 * checkpoint (difu's initialisation, MODEL.md), written atomically. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"

static const char usage_text[] =
    "usage: difu init --model NAME --seed S --out FILE.safetensors [--threads T]\n"
    "  --model NAME  a preset: fmnist-t, fmnist-s or tiny\n"
    "  --seed S      initialisation seed, a whole number in [0, 2^64)\n"
    "  --out FILE    the checkpoint to write (replaced atomically if it exists)\n";

static int parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    if (!*text || *text == '-' || *text == '+')
        return 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end)
        return 0;
    *out = v;
    return 1;
}

int difu_cmd_init(int argc, char **argv)
{
    difu_engine_params p = difu_engine_params_default();
    const char *name = NULL, *out = NULL, *seed_text = NULL;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s", usage_text);
            return 0;
        }
        int known = strcmp(a, "--model") == 0 || strcmp(a, "--seed") == 0 ||
                    strcmp(a, "--out") == 0 || strcmp(a, "--threads") == 0;
        if (!known) {
            fprintf(stderr, "difu init: unknown option '%s' (see difu init --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "difu init: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--model") == 0) {
            name = v;
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else if (strcmp(a, "--seed") == 0) {
            seed_text = v;
            if (!parse_u64(v, &seed)) {
                fprintf(stderr, "difu init: --seed takes a whole number in [0, 2^64), got '%s'\n", v);
                return 2;
            }
        } else {
            char *end = NULL;
            long t = strtol(v, &end, 10);
            if (!*v || *end || t < 1 || t > 4096) {
                fprintf(stderr, "difu init: --threads takes a whole number from 1 to 4096, got '%s'\n",
                        v);
                return 2;
            }
            p.threads = (int)t;
        }
    }
    if (!name || !out || !seed_text) {
        fprintf(stderr, "difu init: --model, --seed and --out are required\n%s", usage_text);
        return 2;
    }
    /* a file size limit (RLIMIT_FSIZE) must fail the write, not kill the process */
    signal(SIGXFSZ, SIG_IGN);
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu init: %s\n", err);
        return 1;
    }
    difu_model_config cfg;
    difu_model *m = NULL;
    int rc = 0;
    if (difu_model_preset(e, name, &cfg) != DIFU_OK) {
        fprintf(stderr, "difu init: --model: %s\n", difu_engine_last_error(e));
        rc = 2;
    } else if (difu_checkpoint_check_writable(e, out) != DIFU_OK ||
               difu_model_create(e, &cfg, seed, &m) != DIFU_OK) {
        fprintf(stderr, "difu init: %s\n", difu_engine_last_error(e));
        rc = 1;
    } else {
        char seed_meta[32];
        snprintf(seed_meta, sizeof seed_meta, "%llu", (unsigned long long)seed);
        difu_ckpt_block block = {"", difu_model_params(m, NULL)};
        difu_ckpt_meta meta[] = {{"difu.producer", "difu init"}, {"difu.preset", name},
                                 {"difu.seed", seed_meta}};
        if (difu_checkpoint_save(e, out, m, &block, 1, NULL, 0, meta, 3) != DIFU_OK) {
            fprintf(stderr, "difu init: %s\n", difu_engine_last_error(e));
            rc = 1;
        } else {
            printf("wrote %s: %s, seed %s, %lld parameters\n", out, name, seed_text,
                   (long long)difu_model_param_count(m));
        }
    }
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return rc;
}
