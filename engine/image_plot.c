/* image_plot.c: a loss-curve chart drawn into an RGB image and written as a PNG: axes, "nice"
 * ticks (1, 2, 5 x 10^k; decades on a log axis), light grid lines, the raw series and an
 * EMA-smoothed copy, tick labels in a built-in 3 x 5 pixel font. */
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

static const rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, GRID = {225, 225, 225},
                 RAW = {150, 185, 230}, SMOOTH = {20, 60, 170};

typedef struct canvas {
    uint8_t *px;   /* [h, w, 3] */
    int w, h;
    int font;      /* pixels per font dot */
} canvas;

/* Glyphs 3 wide x 5 tall, one row per 3-bit value (bit 2 = left column). */
static const char FONT_CHARS[] = "0123456789.-+elostp";
static const uint8_t FONT[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 2, 7, 2, 0}, {0, 3, 7, 4, 3}, {6, 2, 2, 2, 7},
    {0, 2, 5, 5, 2}, {0, 3, 6, 3, 6}, {2, 7, 2, 2, 3}, {0, 6, 5, 6, 4},
};

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
        const char *at = strchr(FONT_CHARS, *s);
        if (!at || *s == '\0')
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
                          .x_first = 1.0, .x_step = 1.0};
    return p;
}

/* The y of a value in plot units (log10 when log_y); NAN when it cannot be shown. */
static double y_of(float v, int log_y)
{
    if (!isfinite(v) || (log_y && v <= 0.0f))
        return NAN;
    return log_y ? log10((double)v) : (double)v;
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

static void draw_series(canvas *c, const frame *f, const double *ys, int64_t n, double x_first,
                        double x_step, int thick, rgb col)
{
    int have = 0, px = 0, py = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(ys[i])) {
            have = 0;
            continue;
        }
        int x = px_x(f, x_first + (double)i * x_step), y = px_y(f, ys[i]);
        if (have && (x != px || y != py))
            line(c, px, py, x, y, thick, col);
        else if (!have)
            fill_rect(c, x - thick / 2, y - thick / 2, thick, thick, col);
        px = x;
        py = y;
        have = 1;
    }
}

static void draw_axes(canvas *c, const frame *f, int log_y)
{
    double ticks[MAX_TICKS], step = 1.0;
    char buf[32];
    int fh = 5 * c->font;
    int ny = log_y ? log_ticks(f->y0, f->y1, ticks)
                   : linear_ticks(f->y0, f->y1, 6, ticks, &step);
    for (int i = 0; i < ny; i++) {
        int y = px_y(f, ticks[i]);
        line(c, f->left, y, f->left + f->width - 1, y, 1, GRID);
        line(c, f->left - 4, y, f->left - 1, y, 1, BLACK);
        if (log_y)
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
    text(c, f->left, f->top - fh - 4, "loss", BLACK);
    text(c, f->left + f->width - text_width(c, "step"), f->top + f->height + 9 + fh, "step",
         BLACK);
}

/* Data range with 5% padding; a flat or empty series gets a unit-wide range. */
static void data_range(const double *ys, int64_t n, const difu_plot_params *p, frame *f)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(ys[i])) {
            lo = fmin(lo, ys[i]);
            hi = fmax(hi, ys[i]);
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
    f->x0 = p->x_first;
    f->x1 = p->x_first + (double)(n > 1 ? n - 1 : 1) * p->x_step;
}

difu_status difu_png_write_loss_plot(const char *path, const float *values, int64_t n,
                                     const difu_plot_params *params, char *err, size_t errlen)
{
    if (!path || !values || !params || n < 1)
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "png_write_loss_plot: path, values or params NULL, or n %lld < 1",
                         (long long)n);
    const difu_plot_params *p = params;
    if (p->width < PLOT_MIN_W || p->height < PLOT_MIN_H || p->width > PLOT_MAX_SIDE ||
        p->height > PLOT_MAX_SIDE || !(p->smooth >= 0.0f && p->smooth < 1.0f) ||
        !(p->x_step > 0.0) || !isfinite(p->x_first) || !isfinite(p->x_step))
        return difu_errf(err, errlen, DIFU_ERR_INVALID_ARG,
                         "png_write_loss_plot: %s: size %d x %d (need %d..%d x %d..%d), smooth %g "
                         "(need [0, 1)), x_step %g (need > 0)", path, p->width, p->height,
                         PLOT_MIN_W, PLOT_MAX_SIDE, PLOT_MIN_H, PLOT_MAX_SIDE, (double)p->smooth,
                         p->x_step);
    canvas c = {.w = p->width, .h = p->height};
    c.font = p->height >= 360 ? 2 : 1;
    c.px = malloc((size_t)c.w * c.h * 3);
    double *ys = malloc((size_t)n * 2 * sizeof *ys);
    if (!c.px || !ys) {
        free(c.px);
        free(ys);
        return difu_errf(err, errlen, DIFU_ERR_NO_MEMORY,
                         "png_write_loss_plot: %s: out of memory for %lld values", path,
                         (long long)n);
    }
    double *smooth = ys + n;
    double ema = 0.0, weight = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ys[i] = y_of(values[i], p->log_y);
        smooth[i] = NAN;
        if (isfinite(values[i]) && p->smooth > 0.0f) {
            ema = p->smooth * ema + (1.0 - p->smooth) * values[i];
            weight = p->smooth * weight + (1.0 - p->smooth);
            smooth[i] = y_of((float)(ema / weight), p->log_y);   /* debiased EMA */
        }
    }
    frame f;
    data_range(ys, n, p, &f);
    int label_w = 4 * c.font * 8, label_h = 5 * c.font;
    f.left = label_w + 10;
    f.top = label_h + 10;
    f.width = c.w - f.left - 4 * c.font * 3;
    f.height = c.h - f.top - 2 * label_h - 20;
    fill_rect(&c, 0, 0, c.w, c.h, WHITE);
    draw_axes(&c, &f, p->log_y);
    draw_series(&c, &f, ys, n, p->x_first, p->x_step, 1, RAW);
    if (p->smooth > 0.0f)
        draw_series(&c, &f, smooth, n, p->x_first, p->x_step, 2, SMOOTH);
    free(ys);
    difu_status st = difu_png_write_u8(path, c.px, c.h, c.w, 3, err, errlen);
    free(c.px);
    return st;
}
