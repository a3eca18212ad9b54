/* args.h: command-line value parsing shared by the subcommands. Each parser prints
 * "difu CMD: FLAG ..." to stderr and returns 0 when the text is not a valid value in range. */
#ifndef DIFU_CLI_ARGS_H
#define DIFU_CLI_ARGS_H

#include <stdint.h>

/* The value after argv[*i] (advancing *i), or NULL with a message when it is missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* In an option loop over argv with index i and the command's name in `cmd`: sets v to the
 * option's value, or returns 2 (bad usage) from the parser when it is missing. */
#define CLI_VALUE()                                                                               \
    do {                                                                                          \
        if (!(v = cli_value(cmd, argc, argv, &i)))                                                \
            return 2;                                                                             \
    } while (0)
int cli_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
            long long *out);
int cli_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);
int cli_float(const char *cmd, const char *flag, const char *text, double lo, double hi,
              double *out);
/* Formats seconds as "1h02m", "3m05s" or "12.3s". */
void cli_format_duration(double s, char *buf, int len);

#endif /* DIFU_CLI_ARGS_H */
