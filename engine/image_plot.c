/* image_plot.c: loss curves drawn into an RGB image and written as a PNG: axes, "nice" ticks (1,
 * 2, 5 x 10^k; decades on a log axis), light grid lines, up to DIFU_PLOT_MAX_SERIES series each
 * with its raw values and an EMA-smoothed copy in its own colour, a legend, and text in a
 * built-in 3 x 5 pixel font. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image_png.h"

#define PLOT_MIN_W 160
#define PLOT_MIN_H 120
#define PLOT_MAX_SIDE 8192
#define MAX_TICKS 24

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

static const rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, GRID = {225, 225, 225};

/* Series i: the smoothed curve (and legend swatch) in STRONG[i], the raw values in LIGHT[i].
 * Entry 0 is the colour pair of the single-series chart (the trainer's loss.png). */
static const rgb STRONG[DIFU_PLOT_MAX_SERIES] = {
    {20, 60, 170}, {230, 110, 0}, {30, 140, 40}, {200, 30, 30},
    {120, 70, 180}, {130, 80, 50}, {220, 80, 170}, {0, 160, 180},
};
static const rgb LIGHT[DIFU_PLOT_MAX_SERIES] = {
    {150, 185, 230}, {245, 195, 150}, {160, 210, 165}, {235, 160, 160},
    {200, 180, 225}, {205, 180, 160}, {240, 185, 220}, {150, 215, 225},
};

typedef struct canvas {
    uint8_t *px;   /* [h, w, 3] */
    int w, h;
    int font;      /* pixels per font dot */
} canvas;

/* Glyphs 3 wide x 5 tall, one row per 3-bit value (bit 2 = left column): digits, lower-case
 * letters (upper case is folded onto them) and a little punctuation. */
static const char FONT_CHARS[] = "0123456789.-+elostpabcdfghijkmnqruvwxyz_/:()=,";
static const uint8_t FONT[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 2, 7, 2, 0}, {0, 3, 7, 4, 3}, {6, 2, 2, 2, 7},
    {0, 2, 5, 5, 2}, {0, 3, 6, 3, 6}, {2, 7, 2, 2, 3}, {0, 6, 5, 6, 4},
    /* a b c d f g h */
    {0, 3, 5, 5, 3}, {4, 4, 6, 5, 6}, {0, 3, 4, 4, 3}, {1, 1, 3, 5, 3}, {1, 2, 7, 2, 2},
    {3, 5, 3, 1, 6}, {4, 4, 6, 5, 5},
    /* i j k m n q r */
    {2, 0, 2, 2, 2}, {1, 0, 1, 5, 2}, {4, 4, 5, 6, 5}, {0, 6, 7, 5, 5}, {0, 6, 5, 5, 5},
    {0, 3, 5, 3, 1}, {0, 5, 6, 4, 4},
    /* u v w x y z */
    {0, 5, 5, 5, 7}, {0, 5, 5, 5, 2}, {0, 5, 5, 7, 7}, {0, 5, 2, 2, 5}, {5, 5, 3, 1, 6},
    {0, 7, 3, 6, 7},
    /* _ / : ( ) = , */
    {0, 0, 0, 0, 7}, {1, 1, 2, 4, 4}, {0, 2, 0, 2, 0}, {1, 2, 2, 2, 1}, {4, 2, 2, 2, 4},
    {0, 7, 0, 7, 0}, {0, 0, 0, 2, 4},
};
_Static_assert(sizeof FONT / sizeof FONT[0] == sizeof FONT_CHARS - 1, "one glyph per character");

static void put(canvas *c, int x, int y, rgb col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static void fill_rect(canvas *c, int x0, int y0, int w, int h, rgb col)
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            put(c, x, y, col);
}

/* Bresenham, `thick` pixels square pen. */
static void line(canvas *c, int x0, int y0, int x1, int y1, int thick, rgb col)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        fill_rect(c, x0 - thick / 2, y0 - thick / 2, thick, thick, col);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static int text_width(const canvas *c, const char *s)
{
    int n = (int)strlen(s);
    return n > 0 ? n * 4 * c->font - c->font : 0;
}

/* Draws s with its top-left corner at (x, y); characters outside the font are blanks. */
static void text(canvas *c, int x, int y, const char *s, rgb col)
{
    for (; *s; s++, x += 4 * c->font) {
        const char *at = strchr(FONT_CHARS, tolower((unsigned char)*s));
        if (!at)
            continue;
        const uint8_t *g = FONT[at - FONT_CHARS];
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (g[r] & (4 >> b))
                    fill_rect(c, x + b * c->font, y + r * c->font, c->font, c->font, col);
    }
}

/* Tick label: %g of a value rounded to its tick step (no "3.0000000004"). */
static void format_tick(char *buf, size_t len, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0.0;
    snprintf(buf, len, "%.6g", v);
}

/* Ticks at multiples of a 1/2/5 x 10^k step inside [lo, hi]; returns how many. */
static int linear_ticks(double lo, double hi, int target, double *ticks, double *step_out)
{
    double raw = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double step = mag;
    if (raw / mag > 5.0)
        step = 10.0 * mag;
    else if (raw / mag > 2.0)
        step = 5.0 * mag;
    else if (raw / mag > 1.0)
        step = 2.0 * mag;
    int n = 0;
    for (double k = ceil(lo / step); k * step <= hi * (1 + 1e-12) + 1e-300 && n < MAX_TICKS; k++)
        ticks[n++] = k * step;
    *step_out = step;
    return n;
}

/* Log-axis ticks (values in log10 units): decades, with 2 and 5 added when at most 3 decades
 * show; when that still gives fewer than 3 ticks, linear ticks on the values instead. */
static int log_ticks(double lo, double hi, double *ticks)
{
    int n = 0;
    int span = (int)(ceil(hi) - floor(lo));
    int every = span > 8 ? (span + 7) / 8 : 1;
    static const double mults[3] = {1.0, 2.0, 5.0};
    int nm = hi - lo <= 3.0 ? 3 : 1;
    for (double d = floor(lo); d <= ceil(hi) && n < MAX_TICKS; d += every)
        for (int m = 0; m < nm && n < MAX_TICKS; m++) {
            double t = d + log10(mults[m]);
            if (t >= lo - 1e-12 && t <= hi + 1e-12)
                ticks[n++] = t;
        }
    if (n >= 3)
        return n;
    double step, lin[MAX_TICKS];
    int nl = linear_ticks(pow(10.0, lo), pow(10.0, hi), 4, lin, &step);
    n = 0;
    for (int i = 0; i < nl; i++)
        if (lin[i] > 0.0)
            ticks[n++] = log10(lin[i]);
    return n;
}

difu_plot_params difu_plot_params_default(void)
{
    difu_plot_params p = {.width = 800, .height = 500, .log_y = 1, .smooth = 0.98f,
                          .x_first = 1.0, .x_step = 1.0, .y_label = NULL};
    return p;
}

/* The y of a value in plot units (log10 when log_y); NAN when it cannot be shown. */
static double y_of(float v, int log_y)
{
    if (!isfinite(v) || (log_y && v <= 0.0f))
        return NAN;
    return log_y ? log10((double)v) : (double)v;
}

/* The x of point i of a series. */
static double x_at(const difu_plot_series *s, int64_t i, const difu_plot_params *p)
{
    return s->x ? s->x[i] : p->x_first + (double)i * p->x_step;
}

typedef struct frame {
    int left, top, width, height;   /* the plot area in pixels */
    double x0, x1, y0, y1;          /* data range shown */
} frame;

static int px_x(const frame *f, double x)
{
    return f->left + (int)lround((x - f->x0) / (f->x1 - f->x0) * (f->width - 1));
}

static int px_y(const frame *f, double y)
{
    return f->top + f->height - 1 - (int)lround((y - f->y0) / (f->y1 - f->y0) * (f->height - 1));
}

/* Polyline through the points whose ys are not NaN; a NaN breaks the line. */
static void draw_series(canvas *c, const frame *f, const difu_plot_series *s, const double *ys,
                        const difu_plot_params *p, int thick, rgb col)
{
    int have = 0, px = 0, py = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (isnan(ys[i])) {
            have = 0;
            continue;
        }
        int x = px_x(f, x_at(s, i, p)), y = px_y(f, ys[i]);
        if (have && (x != px || y != py))
            line(c, px, py, x, y, thick, col);
        else if (!have)
            fill_rect(c, x - thick / 2, y - thick / 2, thick, thick, col);
        px = x;
        py = y;
        have = 1;
    }
}

static void draw_axes(canvas *c, const frame *f, const difu_plot_params *p)
{
    double ticks[MAX_TICKS], step = 1.0;
    char buf[32];
    int fh = 5 * c->font;
    int ny = p->log_y ? log_ticks(f->y0, f->y1, ticks)
                      : linear_ticks(f->y0, f->y1, 6, ticks, &step);
    for (int i = 0; i < ny; i++) {
        int y = px_y(f, ticks[i]);
        line(c, f->left, y, f->left + f->width - 1, y, 1, GRID);
        line(c, f->left - 4, y, f->left - 1, y, 1, BLACK);
        if (p->log_y)
            snprintf(buf, sizeof buf, "%.3g", pow(10.0, ticks[i]));
        else
            format_tick(buf, sizeof buf, ticks[i], step);
        text(c, f->left - 7 - text_width(c, buf), y - fh / 2, buf, BLACK);
    }
    int nx = linear_ticks(f->x0, f->x1, 6, ticks, &step);
    for (int i = 0; i < nx; i++) {
        int x = px_x(f, ticks[i]);
        line(c, x, f->top, x, f->top + f->height - 1, 1, GRID);
        line(c, x, f->top + f->height, x, f->top + f->height + 3, 1, BLACK);
        format_tick(buf, sizeof buf, ticks[i], step);
        text(c, x - text_width(c, buf) / 2, f->top + f->height + 7, buf, BLACK);
    }
    line(c, f->left - 1, f->top, f->left - 1, f->top + f->height, 1, BLACK);
    line(c, f->left - 1, f->top + f->height, f->left + f->width - 1, f->top + f->height, 1, BLACK);
    text(c, f->left, f->top - fh - 4, p->y_label ? p->y_label : "loss", BLACK);
    text(c, f->left + f->width - text_width(c, "step"), f->top + f->height + 9 + fh, "step",
         BLACK);
}

/* The union of the series' ranges: y of the shown raw values with 5% padding (a flat or empty
 * set gets a unit-wide range), x of every point (x_step wide when all x are equal). */
static void data_range(const difu_plot_series *series, double *const *ys, int nseries,
                       const difu_plot_params *p, frame *f)
{
    double lo = INFINITY, hi = -INFINITY, xlo = INFINITY, xhi = -INFINITY;
    for (int k = 0; k < nseries; k++) {
        const difu_plot_series *s = &series[k];
        xlo = fmin(xlo, x_at(s, 0, p));
        xhi = fmax(xhi, x_at(s, s->n - 1, p));
        for (int64_t i = 0; i < s->n; i++)
            if (!isnan(ys[k][i])) {
                lo = fmin(lo, ys[k][i]);
                hi = fmax(hi, ys[k][i]);
            }
    }
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) {
        lo -= 0.5;
        hi += 0.5;
    }
    double pad = 0.05 * (hi - lo);
    f->y0 = lo - pad;
    f->y1 = hi + pad;
    f->x0 = xlo;
    f->x1 = xhi > xlo ? xhi : xlo + p->x_step;
}

/* Pixels in a rectangle that something other than the background or the grid covers. */
static int64_t covered(const canvas *c, int x0, int y0, int w, int h)
{
    int64_t n = 0;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) {
            const uint8_t *q = c->px + ((size_t)y * c->w + x) * 3;
            int bg = (q[0] == WHITE.r && q[1] == WHITE.g && q[2] == WHITE.b) ||
                     (q[0] == GRID.r && q[1] == GRID.g && q[2] == GRID.b);
            n += !bg;
        }
    return n;
}

#define LEGEND_MAX_CHARS 40

/* A box with a colour swatch and the label of every labelled series (as many rows as fit), in
 * the corner of the plot area the curves cover least: top right, bottom left, top left, bottom
 * right, the first on a tie. Labels are cut to keep the box within half the plot width. */
static void draw_legend(canvas *c, const frame *f, const difu_plot_series *series, int nseries)
{
    int u = c->font, pad = 3 * u + 1, row_h = 8 * u, swatch_w = 10 * u, gap = 3 * u;
    int margin = 4 * u + 2;
    int max_chars = (f->width / 2 - 2 * pad - swatch_w - gap + u) / (4 * u);
    if (max_chars > LEGEND_MAX_CHARS)
        max_chars = LEGEND_MAX_CHARS;
    int max_rows = (f->height - 2 * margin - 2 * pad + 3 * u) / row_h;
    int rows[DIFU_PLOT_MAX_SERIES], nrows = 0, chars = 0;
    for (int k = 0; k < nseries && nrows < max_rows; k++) {
        const char *l = series[k].label;
        if (!l || !*l)
            continue;
        rows[nrows++] = k;
        int len = (int)strlen(l);
        chars = len > chars ? len : chars;
    }
    if (nrows == 0 || max_chars < 1)
        return;
    chars = chars < max_chars ? chars : max_chars;
    int w = 2 * pad + swatch_w + gap + chars * 4 * u - u;
    int h = 2 * pad + nrows * row_h - 3 * u;
    int xr = f->left + f->width - margin - w, xl = f->left + margin;
    int yt = f->top + margin, yb = f->top + f->height - margin - h;
    const int corners[4][2] = {{xr, yt}, {xl, yb}, {xl, yt}, {xr, yb}};
    int best = 0;
    int64_t best_cost = INT64_MAX;
    for (int i = 0; i < 4; i++) {
        int64_t cost = covered(c, corners[i][0], corners[i][1], w, h);
        if (cost < best_cost) {
            best_cost = cost;
            best = i;
        }
    }
    int x = corners[best][0], y = corners[best][1];
    fill_rect(c, x, y, w, h, WHITE);
    line(c, x, y, x + w - 1, y, 1, BLACK);
    line(c, x, y + h - 1, x + w - 1, y + h - 1, 1, BLACK);
    line(c, x, y, x, y + h - 1, 1, BLACK);
    line(c, x + w - 1, y, x + w - 1, y + h - 1, 1, BLACK);
    for (int r = 0; r < nrows; r++) {
        char buf[LEGEND_MAX_CHARS + 1];
        snprintf(buf, (size_t)chars + 1, "%s", series[rows[r]].label);
        int ty = y + pad + r * row_h;
        fill_rect(c, x + pad, ty + u, swatch_w, 3 * u, STRONG[rows[r]]);
        text(c, x + pad + swatch_w + gap, ty, buf, BLACK);
    }
}

#define WHAT "png_write_loss_plot_multi"

static const char *label_or(const difu_plot_series *s)
{
    return s->label && *s->label ? s->label : "unlabelled";
}

/* Checks the arguments; returns the total number of points, or -1 with a message in err. */
static int64_t check_args(const char *path, const difu_plot_series *series, int nseries,
                          const difu_plot_params *p, char *err, size_t errlen)
{
    if (!path || !series || !p) {
        difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": path, series or params NULL");
        return -1;
    }
    if (nseries < 1 || nseries > DIFU_PLOT_MAX_SERIES) {
        difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": %s: %d series (need 1..%d)", path,
                  nseries, DIFU_PLOT_MAX_SERIES);
        return -1;
    }
    if (p->width < PLOT_MIN_W || p->height < PLOT_MIN_H || p->width > PLOT_MAX_SIDE ||
        p->height > PLOT_MAX_SIDE || !(p->smooth >= 0.0f && p->smooth < 1.0f) ||
        !(p->x_step > 0.0) || !isfinite(p->x_first) || !isfinite(p->x_step)) {
        difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                  WHAT ": %s: size %d x %d (need %d..%d x %d..%d), smooth %g (need [0, 1)), "
                  "x_first %g, x_step %g (need finite, > 0)", path, p->width, p->height,
                  PLOT_MIN_W, PLOT_MAX_SIDE, PLOT_MIN_H, PLOT_MAX_SIDE, (double)p->smooth,
                  p->x_first, p->x_step);
        return -1;
    }
    int64_t total = 0;
    for (int k = 0; k < nseries; k++) {
        const difu_plot_series *s = &series[k];
        if (!s->y || s->n < 1) {
            difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": %s: series %d (%s): y %s, n %lld "
                      "(need y and n >= 1)", path, k, label_or(s), s->y ? "given" : "NULL",
                      (long long)s->n);
            return -1;
        }
        for (int64_t i = 0; s->x && i < s->n; i++)
            if (!isfinite(s->x[i]) || (i > 0 && !(s->x[i] > s->x[i - 1]))) {
                if (isfinite(s->x[i]))
                    difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": %s: series %d (%s): "
                              "x[%lld] = %g is not greater than x[%lld] = %g (x must increase)",
                              path, k, label_or(s), (long long)i, s->x[i], (long long)i - 1,
                              s->x[i - 1]);
                else
                    difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": %s: series %d (%s): "
                              "x[%lld] = %g is not finite", path, k, label_or(s), (long long)i,
                              s->x[i]);
                return -1;
            }
        if (s->n > ((int64_t)1 << 40) - total) {
            difu_errf(err, errlen, DIFU_ERR_INVALID_ARG, WHAT ": %s: more than 2^40 points", path);
            return -1;
        }
        total += s->n;
    }
    return total;
}

/* Fills raw with the plot-unit ys of s and smooth with its debiased EMA (NaN where not shown). */
static void series_ys(const difu_plot_series *s, const difu_plot_params *p, double *raw,
                      double *smooth)
{
    double ema = 0.0, weight = 0.0;
    for (int64_t i = 0; i < s->n; i++) {
        float v = s->y[i];
        raw[i] = y_of(v, p->log_y);
        smooth[i] = NAN;
        if (isfinite(v) && p->smooth > 0.0f) {
            ema = p->smooth * ema + (1.0 - p->smooth) * v;
            weight = p->smooth * weight + (1.0 - p->smooth);
            smooth[i] = y_of((float)(ema / weight), p->log_y);
        }
    }
}

difu_status difu_png_write_loss_plot_multi(const char *path, const difu_plot_series *series,
                                           int nseries, const difu_plot_params *params, char *err,
                                           size_t errlen)
{
    const difu_plot_params *p = params;
    int64_t total = check_args(path, series, nseries, p, err, errlen);
    if (total < 0)
        return DIFU_ERR_INVALID_ARG;
    canvas c = {.w = p->width, .h = p->height};
    c.font = p->height >= 360 ? 2 : 1;
    c.px = malloc((size_t)c.w * c.h * 3);
    double *block = malloc((size_t)total * 2 * sizeof *block);
    if (!c.px || !block) {
        free(c.px);
        free(block);
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY, WHAT ": %s: out of memory for %lld "
                         "values", path, (long long)total);
    }
    double *raw[DIFU_PLOT_MAX_SERIES], *smooth[DIFU_PLOT_MAX_SERIES];
    double *at = block;
    for (int k = 0; k < nseries; k++) {
        raw[k] = at;
        smooth[k] = at + series[k].n;
        at += 2 * series[k].n;
        series_ys(&series[k], p, raw[k], smooth[k]);
    }
    frame f;
    data_range(series, raw, nseries, p, &f);
    int label_w = 4 * c.font * 8, label_h = 5 * c.font;
    f.left = label_w + 10;
    f.top = label_h + 10;
    f.width = c.w - f.left - 4 * c.font * 3;
    f.height = c.h - f.top - 2 * label_h - 20;
    fill_rect(&c, 0, 0, c.w, c.h, WHITE);
    draw_axes(&c, &f, p);
    /* every raw cloud first, so no series' cloud hides another's smoothed curve; without
     * smoothing the raw values are the curve and take the full colour */
    for (int k = 0; k < nseries; k++)
        draw_series(&c, &f, &series[k], raw[k], p, 1, p->smooth > 0.0f ? LIGHT[k] : STRONG[k]);
    for (int k = 0; k < nseries && p->smooth > 0.0f; k++)
        draw_series(&c, &f, &series[k], smooth[k], p, 2, STRONG[k]);
    draw_legend(&c, &f, series, nseries);
    free(block);
    difu_status st = difu_png_write_u8(path, c.px, c.h, c.w, 3, err, errlen);
    free(c.px);
    return st;
}

difu_status difu_png_write_loss_plot(const char *path, const float *values, int64_t n,
                                     const difu_plot_params *params, char *err, size_t errlen)
{
    if (!path || !values || !params || n < 1)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "png_write_loss_plot: path, values or params NULL, or n %lld < 1",
                         (long long)n);
    difu_plot_series s = {.label = NULL, .x = NULL, .y = values, .n = n};
    return difu_png_write_loss_plot_multi(path, &s, 1, params, err, errlen);
}
