/* cmd_model.c: `difu model NAME`: a model's tensors (name, shape), parameter count, forward
 * GFLOP per image and planned activation memory. NAME is a preset or a checkpoint file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "model_config_json.h"

static const char usage_text[] =
    "usage: difu model NAME [--batch B] [--threads T]\n"
    "  NAME       a preset (fmnist-t, fmnist-s, tiny) or a checkpoint FILE.safetensors\n"
    "  --batch B  batch size for the activation memory figures (default 128)\n"
    "  --threads T  threads of the engine (default: all cores)\n"
    "Prints every parameter tensor (name, shape), the parameter count, the forward GFLOP per\n"
    "image and the planned activation memory (forward only, and forward + backward).\n";

static int parse_int(const char *text, int lo, int hi, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static int is_file_name(const char *name)
{
    size_t n = strlen(name);
    return strchr(name, '/') || (n > 12 && strcmp(name + n - 12, ".safetensors") == 0);
}

static void print_count(int64_t v)
{
    char digits[32], out[48];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), k = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = 0;
    printf("parameters   %lld (%s; %.2f MB as float32)\n", (long long)v, out, (double)v * 4 / 1e6);
}

/* The config of NAME: a preset, or a checkpoint's (metadata or inferred). */
static int get_config(difu_engine *e, const char *name, difu_model_config *cfg)
{
    if (!is_file_name(name)) {
        if (difu_model_preset(e, name, cfg) == DIFU_OK)
            return 0;
        fprintf(stderr, "difu model: %s (or give a checkpoint file)\n", difu_engine_last_error(e));
        return 2;
    }
    difu_checkpoint *c = NULL;
    if (difu_checkpoint_open(e, name, &c) != DIFU_OK || difu_checkpoint_config(c, cfg) != DIFU_OK) {
        fprintf(stderr, "difu model: %s\n", difu_engine_last_error(e));
        difu_checkpoint_close(c);
        return 1;
    }
    if (!difu_checkpoint_has_config(c))
        printf("note: %s has no difu.config; the config was inferred from its tensor shapes\n", name);
    difu_checkpoint_close(c);
    return 0;
}

int difu_cmd_model(int argc, char **argv)
{
    difu_engine_params p = difu_engine_params_default();
    const char *name = NULL;
    int batch = 128;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s", usage_text);
            return 0;
        } else if (strcmp(a, "--batch") == 0 || strcmp(a, "--threads") == 0) {
            int hi = a[2] == 'b' ? 65536 : 4096;
            if (i + 1 >= argc || !parse_int(argv[i + 1], 1, hi, a[2] == 'b' ? &batch : &p.threads)) {
                fprintf(stderr, "difu model: %s takes a whole number from 1 to %d, got '%s'\n", a, hi,
                        i + 1 < argc ? argv[i + 1] : "nothing");
                return 2;
            }
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "difu model: unknown option '%s' (see difu model --help)\n", a);
            return 2;
        } else if (name) {
            fprintf(stderr, "difu model: one NAME only, got '%s' and '%s'\n", name, a);
            return 2;
        } else {
            name = a;
        }
    }
    if (!name) {
        fprintf(stderr, "difu model: which model? (fmnist-t, fmnist-s, tiny or a checkpoint file)\n%s",
                usage_text);
        return 2;
    }
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu model: %s\n", err);
        return 1;
    }
    difu_model_config cfg;
    difu_model *m = NULL;
    char *json = NULL;
    size_t fwd = 0, train = 0;
    int rc = get_config(e, name, &cfg);
    if (rc == 0 && (difu_model_create(e, &cfg, 0, &m) != DIFU_OK ||
                    difu_model_config_to_json(e, &cfg, &json) != DIFU_OK ||
                    difu_model_activation_bytes(m, batch, 0, &fwd) != DIFU_OK ||
                    difu_model_activation_bytes(m, batch, 1, &train) != DIFU_OK)) {
        fprintf(stderr, "difu model: %s: %s\n", name, difu_engine_last_error(e));
        rc = 1;
    }
    if (rc == 0) {
        printf("model        %s\n", name);
        printf("config       %s\n", json);
        int n = difu_model_tensor_count(m);
        printf("tensors      %d\n", n);
        for (int i = 0; i < n; i++) {
            int ndim;
            int64_t shape[DIFU_MAX_DIMS];
            const char *tname = difu_model_tensor_info(m, i, &ndim, shape);
            printf("  %-36s [", tname);
            for (int d = 0; d < ndim; d++)
                printf("%s%lld", d ? ", " : "", (long long)shape[d]);
            printf("]\n");
        }
        print_count(difu_model_param_count(m));
        printf("forward      %.4f GFLOP per image\n", difu_model_forward_flops(m) / 1e9);
        printf("activations  batch %d: forward %.1f MiB, training (forward + backward) %.1f MiB\n",
               batch, (double)fwd / (1 << 20), (double)train / (1 << 20));
    }
    free(json);
    difu_model_destroy(m);
    difu_engine_destroy(e);
    return rc;
}
