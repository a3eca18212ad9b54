/* fuzz_cli.c: the command line of every subcommand. The input is split at NUL bytes into argv
 * after "difu" and run through the real main (cli/difu.c, built into this harness with main
 * renamed difu_cli_main) and the real cmd_*.c files. This harness defines its own
 * difu_engine_create, which checks the engine parameters the parser produced and refuses, so every
 * command stops right after parsing its flags: nothing trains, samples or writes a checkpoint.
 * Exit statuses must be 0, 1 or 2. Arguments cannot contain '/' (it is replaced by '_') and the
 * commands run in the scratch folder, so what a parser may create (sample's --out-dir) stays
 * there. */
#include "fuzz_util.h"

int difu_cli_main(int argc, char **argv);

difu_status difu_engine_create(const difu_engine_params *p, difu_engine **out, char *err,
                               size_t errlen)
{
    FUZZ_CHECK(p != NULL && out != NULL, "engine_create arguments");
    FUZZ_CHECK(p->threads >= 0 && p->threads <= 4096, "threads %d", p->threads);
    FUZZ_CHECK((int)p->max_isa >= 0 && (int)p->max_isa <= DIFU_ISA_COUNT, "max_isa %d",
               (int)p->max_isa);
    *out = NULL;
    if (err && errlen)
        snprintf(err, errlen, "fuzz: stopped after parsing");
    return DIFU_ERR_UNSUPPORTED;
}

enum { MAX_ARGS = 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* libFuzzer reads its corpus by relative paths: leave the scratch folder after each run */
    static char home[4096] = "";
    if (!home[0])
        FUZZ_CHECK(getcwd(home, sizeof home), "getcwd");
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "difu";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
        argv[argc++] = text + i;
        size_t n = strlen(text + i);
        for (size_t k = 0; k < n; k++)
            if (text[i + k] == '/')
                text[i + k] = '_';
        i += n + 1;
    }
    argv[argc] = NULL;
    FUZZ_CHECK(chdir(fuzz_dir()) == 0, "chdir %s", fuzz_dir());
    int rc = difu_cli_main(argc, argv);
    FUZZ_CHECK(chdir(home) == 0, "chdir %s", home);
    FUZZ_CHECK(rc >= 0 && rc <= 2, "exit status %d", rc);
    free(text);
    return 0;
}
