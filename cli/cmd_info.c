/* cmd_info.c: `difu info`: what this machine and build offer, and what the engine chose. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "difu.h"

static int parse_threads(const char *text, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < 1 || v > 4096)
        return 0;
    *out = (int)v;
    return 1;
}

int difu_cmd_info(int argc, char **argv)
{
    difu_engine_params p = difu_engine_params_default();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!parse_threads(argv[++i], &p.threads)) {
                fprintf(stderr, "difu info: --threads takes a whole number from 1 to 4096, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            int isa = difu_isa_parse(argv[++i]);
            if (isa < 0) {
                fprintf(stderr, "difu info: --isa takes ref, avx2, avx512, neon or best, got '%s'\n",
                        argv[i]);
                return 2;
            }
            p.max_isa = (difu_isa)isa;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: difu info [--threads T] [--isa ref|avx2|avx512|neon|best]\n");
            return 0;
        } else {
            fprintf(stderr, "difu info: unknown option '%s' (see difu info --help)\n", argv[i]);
            return 2;
        }
    }
    difu_engine *e = NULL;
    char err[512];
    if (difu_engine_create(&p, &e, err, sizeof err) != DIFU_OK) {
        fprintf(stderr, "difu info: %s\n", err);
        return 1;
    }
    difu_cpu_features f = difu_engine_cpu(e);
    printf("difu %s\n", difu_version());
#if defined(__x86_64__)
    printf("arch       x86_64\n");
    printf("features   avx2+fma=%s avx512f=%s\n", f.avx2_fma ? "yes" : "no", f.avx512f ? "yes" : "no");
#elif defined(__aarch64__)
    printf("arch       aarch64\n");
    printf("features   neon=%s\n", f.neon ? "yes" : "no");
#else
    printf("arch       other\n");
#endif
    printf("isa        %s (best on this CPU: %s)\n", difu_isa_name(difu_engine_isa(e)),
           difu_isa_name(difu_cpu_best_isa(&f)));
    printf("threads    %d\n", difu_engine_threads(e));
    printf("conv       %s\n", difu_conv_backend_name(difu_engine_conv_backend(e)));
    printf("oneDNN     %s\n", difu_onednn_version());
    printf("xxHash     %s\n", difu_xxhash_version());
    printf("kernels\n");
    for (int s = 0; s < DIFU_SLOT_COUNT; s++)
        printf("  %-20s %s\n", difu_kernel_slot_name((difu_kernel_slot)s),
               difu_engine_kernel_name(e, (difu_kernel_slot)s));
    difu_engine_destroy(e);
    return 0;
}
