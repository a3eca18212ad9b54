/* cmd_plot.c: `difu plot`: loss curves read from CSV files (difu's loss.csv, a PyTorch reference
 * run's, any CSV with a header line and a step column) drawn on one chart to compare runs. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "difu.h"

static const char usage_text[] =
    "usage: difu plot --csv FILE[:LABEL] [--csv FILE[:LABEL] ...] --out FILE.png [options]\n"
    "  --csv FILE[:LABEL]   a CSV file with a header line, a 'step' column and the plotted one,\n"
    "                       e.g. the loss.csv of difu train or tools/pytorch/train_ref.py; up to 8.\n"
    "                       LABEL names it in the legend (default: the name of its folder)\n"
    "  --out FILE.png       the chart\n"
    "  --column NAME        the column plotted against step (loss)\n"
    "  --smooth D           EMA decay of the smoothed curves, in [0, 1) (0.98; 0 = raw values only)\n"
    "  --linear             a linear y axis (default: logarithmic)\n"
    "  --width W            image width in pixels (800)\n"
    "  --height H           image height in pixels (500)\n"
    "Steps must increase down each file. A row whose cell in the column is empty is skipped; a\n"
    "cell 'nan' or 'inf' leaves a gap in the curve.\n";

#define MAX_LABEL 256

/* One --csv argument and the points read from its file. */
typedef struct csv_series {
    char *path;
    char label[MAX_LABEL];
    int label_given;
    double *x;
    float *y;
    int64_t n, cap;
} csv_series;

typedef struct plot_args {
    csv_series csv[DIFU_PLOT_MAX_SERIES];
    int ncsv;
    const char *out, *column;
    difu_plot_params params;
} plot_args;

/* FILE[:LABEL]: an existing file's whole name is the path; otherwise the text after the last ':'
 * is the label. */
static int add_csv(plot_args *a, const char *text)
{
    if (a->ncsv == DIFU_PLOT_MAX_SERIES) {
        fprintf(stderr, "difu plot: at most %d --csv files\n", DIFU_PLOT_MAX_SERIES);
        return 0;
    }
    csv_series *s = &a->csv[a->ncsv];
    s->path = strdup(text);
    if (!s->path) {
        fprintf(stderr, "difu plot: out of memory\n");
        return 0;
    }
    a->ncsv++;
    char *colon = strrchr(s->path, ':');
    if (access(text, F_OK) != 0 && colon && colon > s->path && colon[1]) {
        *colon = 0;
        snprintf(s->label, sizeof s->label, "%s", colon + 1);
        s->label_given = 1;
    }
    return 1;
}

/* Returns 0 after --help, 2 on bad usage, -1 to go on. */
static int parse(int argc, char **argv, plot_args *a)
{
    const char *cmd = "plot";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = NULL;
        long long n;
        double x;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(f, "--csv") == 0) {
            CLI_VALUE();
            if (!add_csv(a, v))
                return 2;
        } else if (strcmp(f, "--out") == 0) {
            CLI_VALUE();
            a->out = v;
        } else if (strcmp(f, "--column") == 0) {
            CLI_VALUE();
            a->column = v;
        } else if (strcmp(f, "--smooth") == 0) {
            CLI_VALUE();
            if (!cli_float(cmd, f, v, 0, 1, &x))
                return 2;
            if (x >= 1.0) {
                fprintf(stderr, "difu plot: --smooth takes a decay in [0, 1), got '%s'\n", v);
                return 2;
            }
            a->params.smooth = (float)x;
        } else if (strcmp(f, "--linear") == 0) {
            a->params.log_y = 0;
        } else if (strcmp(f, "--width") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 160, 8192, &n))
                return 2;
            a->params.width = (int)n;
        } else if (strcmp(f, "--height") == 0) {
            CLI_VALUE();
            if (!cli_int(cmd, f, v, 120, 8192, &n))
                return 2;
            a->params.height = (int)n;
        } else {
            fprintf(stderr, "difu plot: unknown option '%s' (see difu plot --help)\n", f);
            return 2;
        }
    }
    if (a->ncsv == 0 || !a->out) {
        fprintf(stderr, "difu plot: --csv FILE and --out FILE.png are required (see difu plot "
                "--help)\n");
        return 2;
    }
    if (!*a->column) {
        fprintf(stderr, "difu plot: --column needs a name\n");
        return 2;
    }
    return -1;
}

/* Cuts line at commas in place, trimming blanks and surrounding double quotes; fields[i] is set
 * for i < max. Returns the number of fields. */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    for (char *at = line;; n++) {
        char *comma = strchr(at, ',');
        if (comma)
            *comma = 0;
        while (*at == ' ' || *at == '\t')
            at++;
        char *end = at + strlen(at);
        while (end > at && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                            end[-1] == '\n'))
            *--end = 0;
        if (end - at >= 2 && *at == '"' && end[-1] == '"') {
            *--end = 0;
            at++;
        }
        if (n < max)
            fields[n] = at;
        if (!comma)
            return n + 1;
        at = comma + 1;
    }
}

/* The header's columns as "a, b, c" (at most len bytes). */
static void list_columns(char **names, int n, char *out, size_t len)
{
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(out + at, len - at, "%s%s", i ? ", " : "", names[i]);
}

static int column_index(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* The whole text as a number (strtod: "nan", "inf" and out-of-range values too); 0 when it is
 * not one. */
static int number(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!*text || *end)
        return 0;
    *out = v;
    return 1;
}

static int append(csv_series *s, double x, float y)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 1024;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx)
            s->x = nx;
        float *ny = nx ? realloc(s->y, (size_t)cap * sizeof *ny) : NULL;
        if (!ny)
            return 0;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 1;
}

/* Reads the step column and `column` of s->path; prints the reason and returns 0 on failure. */
static int read_csv(csv_series *s, const char *column)
{
    FILE *f = fopen(s->path, "r");
    if (!f) {
        fprintf(stderr, "difu plot: cannot open '%s': %s\n", s->path, strerror(errno));
        return 0;
    }
    char *line = NULL, *header = NULL, **names = NULL, **cells = NULL;
    size_t cap = 0;
    int ok = 0;
    long long lineno = 1;
    if (getline(&line, &cap, f) < 0) {
        fprintf(stderr, "difu plot: %s: empty file (no header line)\n", s->path);
        goto done;
    }
    int ncols = 1;
    for (const char *c = line; *c; c++)
        ncols += *c == ',';
    header = strdup(line);
    names = malloc((size_t)ncols * sizeof *names);
    if (!header || !names) {
        fprintf(stderr, "difu plot: %s: out of memory\n", s->path);
        goto done;
    }
    split(header, names, ncols);
    int ix = column_index(names, ncols, "step"), iy = column_index(names, ncols, column);
    if (ix < 0 || iy < 0) {
        char cols[1024];
        list_columns(names, ncols, cols, sizeof cols);
        fprintf(stderr, "difu plot: %s: no column '%s' in the header line (its columns: %s)\n",
                s->path, ix < 0 ? "step" : column, cols);
        goto done;
    }
    int need = (ix > iy ? ix : iy) + 1;
    cells = malloc((size_t)need * sizeof *cells);
    if (!cells) {
        fprintf(stderr, "difu plot: %s: out of memory\n", s->path);
        goto done;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;   /* blank line */
        int got = split(line, cells, need);
        if (got < need) {
            fprintf(stderr, "difu plot: %s, line %lld: %d field%s, but column '%s' is field %d\n",
                    s->path, lineno, got, got == 1 ? "" : "s", got <= ix ? "step" : column,
                    (got <= ix ? ix : iy) + 1);
            goto done;
        }
        const char *step = cells[ix], *value = cells[iy];
        double x, y;
        if (!number(step, &x) || !isfinite(x)) {
            fprintf(stderr, "difu plot: %s, line %lld: step '%s' is not a finite number\n",
                    s->path, lineno, step);
            goto done;
        }
        if (!*value)
            continue;   /* no value logged at this step */
        if (!number(value, &y)) {
            fprintf(stderr, "difu plot: %s, line %lld: %s '%s' is not a number\n", s->path,
                    lineno, column, value);
            goto done;
        }
        if (s->n > 0 && !(x > s->x[s->n - 1])) {
            fprintf(stderr, "difu plot: %s, line %lld: step %.17g comes after step %.17g (steps "
                    "must increase)\n", s->path, lineno, x, s->x[s->n - 1]);
            goto done;
        }
        if (!append(s, x, (float)y)) {
            fprintf(stderr, "difu plot: %s: out of memory at line %lld\n", s->path, lineno);
            goto done;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "difu plot: %s: read error after line %lld: %s\n", s->path, lineno,
                strerror(errno));
        goto done;
    }
    if (s->n == 0) {
        fprintf(stderr, "difu plot: %s: no data rows with a value in column '%s'\n", s->path,
                column);
        goto done;
    }
    ok = 1;
done:
    free(cells);
    free(names);
    free(header);
    free(line);
    fclose(f);
    return ok;
}

/* The name of the folder holding path (resolved), or its base name without ".csv" when it sits
 * in the root folder. */
static void default_label(const char *path, char *out, size_t len)
{
    char *full = realpath(path, NULL);
    const char *p = full ? full : path;
    const char *slash = strrchr(p, '/');
    if (slash && slash > p) {
        const char *start = slash;
        while (start > p && start[-1] != '/')
            start--;
        snprintf(out, len, "%.*s", (int)(slash - start), start);
    } else {
        const char *base = slash ? slash + 1 : p;
        size_t n = strlen(base);
        if (n > 4 && strcmp(base + n - 4, ".csv") == 0)
            n -= 4;
        snprintf(out, len, "%.*s", (int)n, base);
    }
    free(full);
}

/* Default labels, made distinct: two files in folders of the same name are labelled by their
 * paths as given. */
static void set_labels(plot_args *a)
{
    for (int k = 0; k < a->ncsv; k++)
        if (!a->csv[k].label_given)
            default_label(a->csv[k].path, a->csv[k].label, sizeof a->csv[k].label);
    int clash[DIFU_PLOT_MAX_SERIES] = {0};
    for (int k = 0; k < a->ncsv; k++)
        for (int j = 0; j < a->ncsv; j++)
            if (j != k && !a->csv[k].label_given &&
                strcmp(a->csv[k].label, a->csv[j].label) == 0)
                clash[k] = 1;
    for (int k = 0; k < a->ncsv; k++)
        if (clash[k])
            snprintf(a->csv[k].label, sizeof a->csv[k].label, "%s", a->csv[k].path);
}

/* Reads every file and writes the chart; returns the exit status. */
static int run(plot_args *a)
{
    for (int k = 0; k < a->ncsv; k++)
        if (!read_csv(&a->csv[k], a->column))
            return 1;
    set_labels(a);
    difu_plot_series series[DIFU_PLOT_MAX_SERIES];
    int64_t points = 0;
    for (int k = 0; k < a->ncsv; k++) {
        const csv_series *c = &a->csv[k];
        series[k] = (difu_plot_series){.label = c->label, .x = c->x, .y = c->y, .n = c->n};
        points += c->n;
    }
    a->params.y_label = a->column;
    char err[1024];
    if (difu_png_write_loss_plot_multi(a->out, series, a->ncsv, &a->params, err, sizeof err) !=
        DIFU_OK) {
        fprintf(stderr, "difu plot: %s\n", err);
        return 1;
    }
    printf("wrote %s (%d series, %lld points)\n", a->out, a->ncsv, (long long)points);
    return 0;
}

int difu_cmd_plot(int argc, char **argv)
{
    plot_args a;
    memset(&a, 0, sizeof a);
    a.column = "loss";
    a.params = difu_plot_params_default();
    int rc = parse(argc, argv, &a);
    if (rc < 0)
        rc = run(&a);
    for (int k = 0; k < a.ncsv; k++) {
        free(a.csv[k].path);
        free(a.csv[k].x);
        free(a.csv[k].y);
    }
    return rc;
}
