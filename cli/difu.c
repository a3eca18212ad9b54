/* difu.c: the command-line program: picks a subcommand and runs it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"info", difu_cmd_info, "CPU features, the kernel chosen per slot, threads, library versions"},
    {"model", difu_cmd_model, "a model's tensors, parameter count, GFLOP per image, activation memory"},
    {"init", difu_cmd_init, "write a freshly initialised checkpoint"},
    {"predict", difu_cmd_predict, "run the denoiser on a batch file (x, t, y) and write eps"},
    {"digest", difu_cmd_digest, "XXH3-64 digests of safetensors files, checked against stored ones"},
    {"train", difu_cmd_train, "train a diffusion model (checkpoints, loss.csv, sample grids)"},
    {"sample", difu_cmd_sample, "draw images from a checkpoint with DDPM or DDIM"},
    {"plot", difu_cmd_plot, "loss curves of runs (loss.csv files) on one chart, as a PNG"},
    {"bench", difu_cmd_bench, "throughput: training and sampling images/s, GFLOP/s, peak RSS; per-op times"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: difu COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'difu COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "difu: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
