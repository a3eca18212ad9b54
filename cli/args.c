/* args.c: command-line value parsing (see args.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "difu %s: %s needs a value (see difu %s --help)\n", cmd, argv[*i], cmd);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
            long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "difu %s: %s takes a whole number from %lld to %lld, got '%s'\n", cmd, flag,
                lo, hi, text);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_u64(const char *cmd, const char *flag, const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *text == '-' || *end || errno) {
        fprintf(stderr, "difu %s: %s takes a whole number from 0 to 2^64-1, got '%s'\n", cmd, flag,
                text);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *cmd, const char *flag, const char *text, double lo, double hi,
              double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "difu %s: %s takes a number from %g to %g, got '%s'\n", cmd, flag, lo, hi,
                text);
        return 0;
    }
    *out = v;
    return 1;
}

void cli_format_duration(double s, char *buf, int len)
{
    if (!(s >= 0) || s > 1e8)
        snprintf(buf, (size_t)len, "?");
    else if (s >= 3600)
        snprintf(buf, (size_t)len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, (size_t)len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, (size_t)len, "%.1fs", s);
}
