/* conv2d_winograd.c: Winograd F(4x4, 3x3) and F(5x5, 3x3) convolutions for k=3 stride 1 pad 1,
 * ISA-generic, on the table's packed GEMM micro-kernel (difu_gemm_ukernel_fn). Lavin & Gray's
 * transforms with the points 0, +-1, +-2: a 4x4 output tile Y = A^T [(G g G^T) . (B^T d B)] A
 * from a 6x6 input tile d, 36 products per tile and channel pair instead of 144; with -1/2 added,
 * a 5x5 tile from a 7x7 one (49 products instead of 225), for the image sizes that 5-wide tiles
 * cover with less waste (difu_winograd_tile). Below, "tile" is the output tile side and XI the
 * (tile + 2)^2 transformed points.
 *
 * Tiles: an h x w image has ceil(h/tile) x ceil(w/tile) tiles; the last row and column of tiles may
 * reach past the image (zero input, outputs dropped). All tiles of the batch are numbered
 * image-major and processed in blocks of nbp tiles (a multiple of nr, 64 or fewer for many
 * channels); forward and backward-data hand the blocks to threads one at a time from a shared
 * counter, backward-weights splits the output channels (and, for a small dweight, the batch in
 * two fixed halves). The transforms run with lanes over a block's tiles
 * (conv2d_winograd_xform.h, built per ISA).
 *
 * forward: U[xi][o][c] = (G g[o][c] G^T)[xi]; per block V[xi][c][t] = (B^T d[c][t] B)[xi]; XI
 *   GEMMs M[xi] = U[xi] V[xi] (k = channels, summed in channel order inside the micro-kernel);
 *   y[o][t] = A^T M[.][o][t] A + bias.
 * backward-data: the forward of dy with g'[ci][co] = g[co][ci] flipped in both axes.
 * backward-weights: dM[xi][o][t] = (A dy[o][t] A^T)[xi], V as above; dU[xi] = sum over tiles of
 *   dM[xi] V[xi]^T (k = tiles, in blocks of nbp in tile order); dg = G^T dU G.
 * Every output element is computed by one thread in an order fixed by the shape, so results are
 * bit-identical for any thread count; forward and backward-data sum over channels only, so an
 * image gets the same bits in any batch.
 *
 * Scratch: each thread's scratch starts with its private part (V, M, transform buffers); after
 * thread 0's private part lies the team's shared part (kernels.h: the team's scratch is one
 * block, thread j's at j * scratch_per_thread), holding the transformed weights of one chunk of
 * output channels (forward, backward-data). Backward-weights keeps its chunk of dU in the same
 * place of each thread's own scratch. Every kernel ends with a barrier (nth > 1), so no thread
 * starts the next one while thread 0's part is still in use. */
#include <string.h>

#include "conv2d_winograd.h"
#include "gemm_conv.h"

/* The generic transforms (the ISA-flagged copies live in kernels/<isa>/). */
#define WINO_INPUT_FN difu_wino_input_generic
#define WINO_OUTPUT_FN difu_wino_output_generic
#define WINO_DY_FN difu_wino_dy_generic
#define WINO5_INPUT_FN difu_wino_input5_generic
#define WINO5_OUTPUT_FN difu_wino_output5_generic
#include "conv2d_winograd_xform.h"

static void transpose_generic(int rows, int cols, const float *src, int64_t lds, float *dst,
                              int64_t ldd)
{
    for (int r0 = 0; r0 < rows; r0 += 8)
        for (int c = 0; c < cols; c++)
            for (int r = r0; r < rows && r < r0 + 8; r++)
                dst[c * ldd + r] = src[r * lds + c];
}

static const difu_wino_xforms wino_generic = {
    difu_wino_input_generic,   difu_wino_output_generic,  difu_wino_dy_generic, transpose_generic,
    difu_wino_input5_generic, difu_wino_output5_generic};

typedef difu_wino_geom wgeom;
typedef difu_wino_run wrun;

enum {
    XI4 = 36,               /* F(4x4, 3x3): 6x6 transformed points (backward-weights) */
    XI_MAX = 49,            /* F(5x5, 3x3): 7x7, what the buffers are sized for */
    CIN_MAX = 256,          /* GEMM k (source channels) of forward and backward-data */
    V_TILE_CHANNELS = 8192, /* channels x tiles of a V plane: about 1.2 MB of V, near L2 */
    TILES = 64,             /* tiles per block, rounded up to nr */
    MCB = 64,               /* output channels per GEMM block, rounded up to mr */
    SHARED_FLOATS = 1184 * 1024, /* the team's shared part: 4.6 MiB, 256 x 128 weights */
    /* Backward-weights with dweight this small sums the batch in two fixed halves, the second
     * into this part of thread 0's scratch (after its shared part): 576 KiB. */
    HALF_FLOATS = 128 * 128 * 9,
    /* Pads the stride between the xi planes of V, M and the weight panel so it is not a
     * multiple of 4 KiB: 36 or 49 streams 4 KiB apart would share one L1 set and evict each
     * other. */
    XPAD = 16,
    /* floats per block column after patch: t (49) and o (25), and room so that patch, t and o
     * make the transforms' work area of DIFU_WINO_WORK_PER_COLUMN (conv2d_winograd.h) */
    WORK_AFTER_PATCH = DIFU_WINO_WORK_PER_COLUMN - XI_MAX,
    EPILOGUE_AHEAD = 2, /* output channels ahead that the epilogue fetches its residual rows */
};

static int round_up_int(int x, int m) { return (x + m - 1) / m * m; }
static size_t align16(size_t x) { return (x + 15) & ~(size_t)15; }

typedef struct wparts {
    difu_wino_bufs b; /* this thread's transform buffers */
    float *m, *shared;
    float *half; /* backward-weights: the second half's dweight, in thread 0's scratch */
    int64_t *next_block; /* forward: the next tile block to take, in thread 0's scratch */
    float *tbw; /* backward-weights: one channel panel's transformed tiles */
    float *own; /* this thread's part after its private one (backward-weights: dU) */
    wrun *runs;
} wparts;

static int nbp_of(const difu_gemm_ukernel *u) { return round_up_int(TILES, u->nr); }

/* Floats per xi plane of V: nbp*c <= V_TILE_CHANNELS (wgeom_init; nr*CIN_MAX <= it for nr <= 32),
 * and backward-weights pads c to a multiple of nr. */
static size_t v_plane(const difu_gemm_ukernel *u)
{
    return V_TILE_CHANNELS + (size_t)u->nr * (size_t)nbp_of(u) + XPAD;
}

static size_t private_floats(const difu_gemm_ukernel *u)
{
    size_t nbp = (size_t)nbp_of(u), mcb = (size_t)round_up_int(MCB, u->mr);
    return align16(XI_MAX * v_plane(u)) + align16(XI_MAX * (mcb * nbp + XPAD)) +
           align16(XI_MAX * nbp) + align16(WORK_AFTER_PATCH * nbp) +
           align16(sizeof(wrun) * nbp / sizeof(float) + 1) +
           align16(XI4 * ((size_t)u->nr * nbp + XPAD));
}

size_t difu_winograd_scratch_bytes(const difu_gemm_ukernel *u)
{
    return (private_floats(u) + SHARED_FLOATS + HALF_FLOATS) * sizeof(float) + 64 + 128;
}

int difu_winograd_fits(const difu_conv2d_desc *d)
{
    if (d->k != 3 || d->stride != 1 || d->pad != 1)
        return 0;
    /* both directions' GEMM k must fit V; below 16 channels or 7x7 the transforms do not pay */
    return d->cin >= 16 && d->cout >= 16 && d->cin <= CIN_MAX && d->cout <= CIN_MAX &&
           d->h >= 7 && d->w >= 7;
}

int difu_winograd_tile(int h, int w)
{
    int64_t p4 = 36 * (int64_t)((h + 3) / 4) * ((w + 3) / 4);
    int64_t p5 = 49 * (int64_t)((h + 4) / 5) * ((w + 4) / 5);
    return 100 * p5 <= 85 * p4 ? 5 : 4;
}

static void wgeom_init(wgeom *g, const difu_gemm_ukernel *u, int tile, int n, int c, int m, int h,
                       int w)
{
    g->n = n, g->c = c, g->m = m, g->h = h, g->w = w;
    g->tile = tile, g->xi = (tile + 2) * (tile + 2);
    g->th = (h + tile - 1) / tile, g->tw = (w + tile - 1) / tile, g->tpi = g->th * g->tw;
    g->tiles = (int64_t)n * g->tpi;
    g->mr = u->mr, g->nr = u->nr;
    /* V (xi*c*nbp floats) stays about 1.2 MB, near L2: fewer tiles per block for many channels
     * and for 7x7 tiles (49 points: 32 tiles of 128 channels, not 64; the sampling forward ran
     * 2.2% faster so). The block size, fixed by the shape, changes no forward or backward-data
     * sum (k = channels); backward-weights sums the tiles in these blocks. */
    int vtc = V_TILE_CHANNELS * 36 / g->xi;
    int tiles = vtc / c < TILES ? vtc / c : TILES;
    g->nbp = tiles / u->nr * u->nr;
    if (g->nbp < u->nr)
        g->nbp = u->nr;
    g->npan = g->nbp / u->nr;
    g->mcb = round_up_int(MCB, u->mr);
    g->vstride = (int64_t)g->npan * c * u->nr + XPAD;
    g->mstride = (int64_t)g->mcb * g->nbp + XPAD;
    int mp = round_up_int(m, u->mr);
    int maxrows = (int)(SHARED_FLOATS / ((int64_t)g->xi * c * u->mr)) * u->mr;
    g->nchunks = (mp + maxrows - 1) / maxrows;
    g->mchunk = round_up_int((mp + g->nchunks - 1) / g->nchunks, u->mr);
}

static wparts split_scratch(const difu_kernels *k, void *scratch, int ith, const wgeom *g)
{
    wparts p;
    const difu_gemm_ukernel *u = &k->gemm_ukernel;
    float *f = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    size_t nbp = (size_t)g->nbp;
    p.b.v = f;
    p.m = p.b.v + align16(XI_MAX * v_plane(u));
    p.b.patch = p.m + align16(XI_MAX * ((size_t)g->mcb * nbp_of(u) + XPAD));
    p.b.t = p.b.patch + align16(XI_MAX * nbp);
    p.b.o = p.b.t + XI_MAX * nbp;
    p.b.line = p.b.o; /* the input transform's line buffer, free while inputs are read */
    p.runs = (wrun *)(p.b.t + align16(WORK_AFTER_PATCH * nbp));
    p.tbw = (float *)p.runs + align16(sizeof(wrun) * nbp / sizeof(float) + 1);
    p.own = f + private_floats(u);
    char *team = (char *)scratch - (size_t)ith * k->scratch_per_thread;
    float *t0 = (float *)(((uintptr_t)team + 63) & ~(uintptr_t)63);
    p.shared = t0 + private_floats(u);
    p.half = p.shared + SHARED_FLOATS;
    p.next_block = (int64_t *)(void *)(p.half + HALF_FLOATS);
    return p;
}

/* The runs of tiles [t0, t0 + cnt); returns their count. */
static int make_runs(const wgeom *g, int64_t t0, int cnt, wrun *runs)
{
    int nrun = 0;
    for (int jj = 0; jj < cnt;) {
        int64_t t = t0 + jj;
        int img = (int)(t / g->tpi), rem = (int)(t % g->tpi);
        int ty = rem / g->tw, tx = rem % g->tw;
        int len = g->tw - tx;
        if (len > cnt - jj)
            len = cnt - jj;
        if (len > g->nr - jj % g->nr)
            len = g->nr - jj % g->nr;
        runs[nrun++] = (wrun){img, ty, tx, jj, len};
        jj += len;
    }
    return nrun;
}

void difu_winograd_geom(const difu_gemm_ukernel *u, int tile, int n, int c, int m, int h, int w,
                        difu_wino_geom *g)
{
    wgeom_init(g, u, tile ? tile : difu_winograd_tile(h, w), n, c, m, h, w);
}

int difu_winograd_runs(const difu_wino_geom *g, int64_t t0, int cnt, difu_wino_run *runs)
{
    return make_runs(g, t0, cnt, runs);
}

const difu_wino_xforms *difu_winograd_xforms(const difu_gemm_ukernel *u)
{
    return u->wino ? u->wino : &wino_generic;
}

/* ---------------------------------------------------------------- weights */

/* Where g[o][c] of the convolution being run lives: w + o*so + c*sc, taps reversed if flip. */
typedef struct wsrc {
    const float *w;
    int64_t so, sc;
    int flip;
} wsrc;

/* u = G g G^T for one 3x3 kernel g (taps g[t*ts], reversed if flip), G of F(4x4, 3x3) with the
 * points 0, +-1, +-2: u[xi*us]. */
static void transform_kernel4(const float *g, int64_t ts, int flip, float *u, int64_t us)
{
    const float c4 = 0.25f, c6 = 1.0f / 6, c12 = 1.0f / 12, c24 = 1.0f / 24;
    float k[9], t[6][3];
    for (int tp = 0; tp < 9; tp++)
        k[tp] = g[(flip ? 8 - tp : tp) * ts];
    for (int b = 0; b < 3; b++) { /* t = G g, column b */
        float k0 = k[b], k1 = k[3 + b], k2 = k[6 + b];
        t[0][b] = c4 * k0;
        t[1][b] = -c6 * (k0 + k1 + k2);
        t[2][b] = -c6 * (k0 - k1 + k2);
        t[3][b] = c24 * k0 + c12 * k1 + c6 * k2;
        t[4][b] = c24 * k0 - c12 * k1 + c6 * k2;
        t[5][b] = k2;
    }
    for (int a = 0; a < 6; a++) { /* u = t G^T, row a */
        float k0 = t[a][0], k1 = t[a][1], k2 = t[a][2];
        float *ua = u + (int64_t)a * 6 * us;
        ua[0] = c4 * k0;
        ua[us] = -c6 * (k0 + k1 + k2);
        ua[2 * us] = -c6 * (k0 - k1 + k2);
        ua[3 * us] = c24 * k0 + c12 * k1 + c6 * k2;
        ua[4 * us] = c24 * k0 - c12 * k1 + c6 * k2;
        ua[5 * us] = k2;
    }
}

/* G g for one column (k0, k1, k2) of 3 taps, G of F(5x5, 3x3) with the points 0, +-1, +-2, -1/2
 * and infinity, its rows but the sixth halved (the input transform's B^T rows are doubled,
 * conv2d_winograd_xform.h): t[0..6]. In double: G's entries (1/120, 32/45, ...) are not floats. */
static void g7_column(double k0, double k1, double k2, double *t, int64_t ts)
{
    t[0] = k0 / 4;
    t[ts] = -(k0 + k1 + k2) / 18;
    t[2 * ts] = (k0 - k1 + k2) / 6;
    t[3 * ts] = (k0 + 2 * k1 + 4 * k2) / 120;
    t[4 * ts] = (-k0 + 2 * k1 - 4 * k2) / 72;
    t[5 * ts] = (-32 * k0 + 16 * k1 - 8 * k2) / 45;
    t[6 * ts] = k2 / 2;
}

/* transform_kernel4 for F(5x5, 3x3): u[xi*us], 49 points, rounded to float once. */
static void transform_kernel5(const float *g, int64_t ts, int flip, float *u, int64_t us)
{
    double k[9], t[7][3], v[7];
    for (int tp = 0; tp < 9; tp++)
        k[tp] = g[(flip ? 8 - tp : tp) * ts];
    for (int b = 0; b < 3; b++) /* t = G g, column b */
        g7_column(k[b], k[3 + b], k[6 + b], &t[0][b], 3);
    for (int a = 0; a < 7; a++) { /* u = t G^T, row a */
        g7_column(t[a][0], t[a][1], t[a][2], v, 1);
        for (int j = 0; j < 7; j++)
            u[(int64_t)(a * 7 + j) * us] = (float)v[j];
    }
}

/* U rows [o_first, o_first + rows) (a multiple of mr; rows past m are zero), packed per xi as
 * rows/mr micro-panels of c*mr floats: U[(xi*rows + q*mr)*c + ci*mr + i]. Threads split the
 * panels; each panel is built in tmp (xi*c*mr floats) and copied out per xi, so the writes stay
 * within a few pages at a time. */
static void transform_weights(const wgeom *g, const wsrc *s, int o_first, int rows, float *U,
                              float *tmp, int ith, int nth)
{
    const int mr = g->mr, c = g->c, np = rows / mr;
    const int64_t pf = (int64_t)c * mr, ps = pf + XPAD; /* floats per panel and xi, tmp stride */
    const int q0 = (int)((int64_t)np * ith / nth), q1 = (int)((int64_t)np * (ith + 1) / nth);
    for (int q = q0; q < q1; q++) {
        for (int i = 0; i < mr; i++) {
            int o = o_first + q * mr + i;
            for (int ci = 0; ci < c; ci++) {
                float *u = tmp + (int64_t)ci * mr + i;
                if (o < g->m && g->tile == 5)
                    transform_kernel5(s->w + o * s->so + ci * s->sc, 1, s->flip, u, ps);
                else if (o < g->m)
                    transform_kernel4(s->w + o * s->so + ci * s->sc, 1, s->flip, u, ps);
                else
                    for (int xi = 0; xi < g->xi; xi++)
                        u[xi * ps] = 0.0f;
            }
        }
        for (int xi = 0; xi < g->xi; xi++)
            memcpy(U + ((int64_t)xi * rows + (int64_t)q * mr) * c, tmp + xi * ps,
                   sizeof(float) * (size_t)pf);
    }
}

/* ---------------------------------------------------------------- forward driver */

/* The epilogue's residual rows of output channel o + EPILOGUE_AHEAD for the block's runs,
 * fetched now: the output transform adds channel o's (kernels.h's order: + channel, then +
 * residual) as it writes them, and the residual was made long before. */
static void prefetch_residual(const wgeom *g, const wrun *runs, int nrun, int o,
                              const difu_conv_epilogue *ep)
{
    const int64_t hw = (int64_t)g->h * g->w;
    if (ep && ep->residual && o + EPILOGUE_AHEAD < g->m)
        difu_wino_prefetch_planes(g, ep->residual + (o + EPILOGUE_AHEAD) * hw, g->m * hw, runs,
                                  nrun, 0, g->tile, 0);
}

/* dst [n, m, h, w] = the Winograd convolution of src [n, c, h, w] with the weights s (+ bias),
 * then the epilogue ep (NULL: none). */
static void wino_run(const difu_kernels *k, const wgeom *g, const wsrc *s, const float *pre,
                     const float *src, const float *bias, const difu_conv_epilogue *ep, float *dst,
                     void *scratch, int ith, int nth)
{
    const difu_gemm_ukernel *u = &k->gemm_ukernel;
    wparts p = split_scratch(k, scratch, ith, g);
    const int mr = g->mr, nr = g->nr, c = g->c, nbp = g->nbp;
    const int mp = round_up_int(g->m, mr);
    const difu_wino_xforms *xf = difu_winograd_xforms(u);
    const difu_wino_input_fn input = difu_wino_input_of(xf, g);
    const difu_wino_output_fn output = difu_wino_output_of(xf, g);
    const int64_t nblocks = (g->tiles + nbp - 1) / nbp;
    /* pre: all rows' U made before (difu_winograd_transform_weights), one chunk */
    const int nchunks = pre ? 1 : g->nchunks, mchunk = pre ? mp : g->mchunk;
    const float *U = pre ? pre : p.shared;
    for (int ch = 0; ch < nchunks; ch++) {
        int o_first = ch * mchunk, rows = mp - o_first < mchunk ? mp - o_first : mchunk;
        if (ith == 0) /* the previous chunk's last barrier is behind every thread */
            __atomic_store_n(p.next_block, 0, __ATOMIC_RELAXED);
        if (!pre)
            transform_weights(g, s, o_first, rows, p.shared, p.b.v, ith, nth);
        if (nth > 1) { /* the counter reset (and the shared weights) before any block is taken */
#pragma omp barrier
        }
        /* blocks are taken one at a time from a shared counter: a block's outputs do not depend
         * on the thread that computes it, and a thread slowed by anything takes fewer */
        for (int64_t b; (b = __atomic_fetch_add(p.next_block, 1, __ATOMIC_RELAXED)) < nblocks;) {
            int64_t t0 = b * nbp;
            int cnt = g->tiles - t0 < nbp ? (int)(g->tiles - t0) : nbp;
            int nrun = make_runs(g, t0, cnt, p.runs), npu = (cnt + nr - 1) / nr;
            input(g, src, p.runs, nrun, cnt, 0, c, p.b.v, g->vstride, (int64_t)c * nr, nr, &p.b);
            for (int mb = 0; mb < rows; mb += g->mcb) {
                int mrows = rows - mb < g->mcb ? rows - mb : g->mcb;
                for (int xi = 0; xi < g->xi; xi++) {
                    const float *ux = U + ((int64_t)xi * rows + mb) * c;
                    const float *vx = p.b.v + xi * g->vstride;
                    float *mx = p.m + xi * g->mstride;
                    for (int pan = 0; pan < npu; pan++)
                        for (int q = 0; q < mrows; q += mr)
                            u->fn(c, ux + (int64_t)q * c, vx + (int64_t)pan * c * nr,
                                  mx + (int64_t)q * nbp + pan * nr, nbp, 0);
                }
                int valid = g->m - (o_first + mb) < mrows ? g->m - (o_first + mb) : mrows;
                for (int i = 0; i < valid; i++) {
                    int o = o_first + mb + i;
                    prefetch_residual(g, p.runs, nrun, o, ep);
                    output(g, p.m + (int64_t)i * nbp, g->mstride, npu * nr, p.runs, nrun, o,
                           bias ? bias[o] : 0.0f, ep, dst, &p.b);
                }
            }
        }
        /* no thread may rewrite the shared weights (next chunk, or the next kernel on thread
         * 0) while another still reads them */
        if (nth > 1) {
#pragma omp barrier
        }
    }
}

void difu_conv2d_fwd_winograd(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                              const float *weight, const float *bias, float *y, void *scratch,
                              int ith, int nth)
{
    const difu_conv_epilogue none = {NULL, NULL};
    difu_conv2d_fwd_winograd_epilogue(k, d, x, weight, NULL, bias, &none, y, scratch, ith, nth);
}

void difu_conv2d_fwd_winograd_epilogue(const difu_kernels *k, const difu_conv2d_desc *d,
                                       const float *x, const float *weight, const float *wino_u,
                                       const float *bias, const difu_conv_epilogue *ep, float *y,
                                       void *scratch, int ith, int nth)
{
    wgeom g;
    wgeom_init(&g, &k->gemm_ukernel, difu_winograd_tile(d->h, d->w), d->n, d->cin, d->cout, d->h,
               d->w);
    wsrc s = {weight, (int64_t)d->cin * 9, 9, 0};
    wino_run(k, &g, &s, wino_u, x, bias, ep->channel || ep->residual ? ep : NULL, y, scratch, ith,
             nth);
}

size_t difu_winograd_weights_floats(const difu_gemm_ukernel *u, int tile, int cin, int cout)
{
    return (size_t)((tile + 2) * (tile + 2)) * (size_t)cin * (size_t)round_up_int(cout, u->mr);
}

void difu_winograd_transform_weights(const difu_kernels *k, int tile, int cin, int cout,
                                     const float *weight, float *u, void *scratch, int ith,
                                     int nth)
{
    wgeom g; /* the weights' transform reads the channels and the tile only: any image will do */
    wgeom_init(&g, &k->gemm_ukernel, tile, 1, cin, cout, 8, 8);
    wsrc s = {weight, (int64_t)cin * 9, 9, 0};
    wparts p = split_scratch(k, scratch, ith, &g);
    transform_weights(&g, &s, 0, round_up_int(cout, g.mr), u, p.b.v, ith, nth);
}

void difu_conv2d_bwd_data_winograd(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *dy, const float *weight, float *dx,
                                   void *scratch, int ith, int nth)
{
    wgeom g;
    wgeom_init(&g, &k->gemm_ukernel, difu_winograd_tile(d->h, d->w), d->n, d->cout, d->cin, d->h,
               d->w);
    /* g'[ci][co] = g[co][ci] flipped: row o = ci at weight + ci*9, k index co at co*cin*9 */
    wsrc s = {weight, 9, (int64_t)d->cin * 9, 1};
    wino_run(k, &g, &s, NULL, dy, NULL, NULL, dx, scratch, ith, nth);
}

/* ---------------------------------------------------------------- backward-weights */

/* dg = G^T dU G for one (co, ci): dU[xi] at du[xi*xs], dg (3x3) to dw. */
static void transform_dw(const float *du, int64_t xs, float *dw)
{
    const float c4 = 0.25f, c6 = 1.0f / 6, c12 = 1.0f / 12, c24 = 1.0f / 24;
    float t[3][6];
    for (int j = 0; j < 6; j++) { /* t = G^T dU, column j */
        float d0 = du[j * xs], d1 = du[(6 + j) * xs], d2 = du[(12 + j) * xs];
        float d3 = du[(18 + j) * xs], d4 = du[(24 + j) * xs], d5 = du[(30 + j) * xs];
        t[0][j] = c4 * d0 - c6 * (d1 + d2) + c24 * (d3 + d4);
        t[1][j] = c6 * (d2 - d1) + c12 * (d3 - d4);
        t[2][j] = c6 * ((d3 + d4) - (d1 + d2)) + d5;
    }
    for (int a = 0; a < 3; a++) { /* dg = t G, row a */
        const float *e = t[a];
        dw[a * 3] = c4 * e[0] - c6 * (e[1] + e[2]) + c24 * (e[3] + e[4]);
        dw[a * 3 + 1] = c6 * (e[2] - e[1]) + c12 * (e[3] - e[4]);
        dw[a * 3 + 2] = c6 * ((e[3] + e[4]) - (e[1] + e[2])) + e[5];
    }
}

/* The tile blocks [b0, b1) of backward-weights for output channels in mr panels [q0, q1):
 * dU[xi][co][ci] = sum over the blocks' tiles of dM[xi][co][t] V[xi][ci][t], then
 * out = G^T dU G. Chunks of the rows whose dU fits this thread's own scratch; per block (in tile
 * order: the summation order depends on the shape only): V of every input channel and dM of the
 * chunk's rows, transposed into the micro-kernel's k-major panels (k = tiles), then 36 GEMMs
 * accumulate into dU. */
static void bwd_weights_blocks(const difu_kernels *k, const difu_conv2d_desc *d,
                               const wgeom *g, const wparts *p, const float *x, const float *dy,
                               int64_t b0, int64_t b1, int q0, int q1, float *out)
{
    const difu_gemm_ukernel *u = &k->gemm_ukernel;
    const difu_wino_xforms *xf = difu_winograd_xforms(u);
    const int mr = g->mr, nr = g->nr, nbp = g->nbp, cin = d->cin, cout = d->cout;
    const int cpan = (cin + nr - 1) / nr, cinp = cpan * nr;
    int maxrows = (int)((SHARED_FLOATS / XI4 - XPAD) / cinp) / mr * mr;
    if (maxrows > g->mcb)
        maxrows = g->mcb;
    const int64_t vbs = (int64_t)cpan * nbp * nr + XPAD;      /* V plane stride */
    const int64_t dms = (int64_t)maxrows * nbp + XPAD;        /* dM plane stride */
    const int64_t dus = (int64_t)maxrows * cinp + XPAD;       /* dU plane stride */
    const int64_t ts = (int64_t)nr * nbp + XPAD;              /* tbw plane stride */
    float *vb = p->b.v, *dm = p->m, *du = p->own, *tb = p->tbw;
    for (int r0 = q0 * mr; r0 < q1 * mr; r0 += maxrows) {
        int rows = q1 * mr - r0 < maxrows ? q1 * mr - r0 : maxrows;
        for (int64_t b = b0; b < b1; b++) {
            int64_t t0 = b * nbp;
            int cnt = g->tiles - t0 < nbp ? (int)(g->tiles - t0) : nbp;
            int nrun = make_runs(g, t0, cnt, p->runs);
            for (int cp = 0; cp < cpan; cp++) { /* V[xi][cp][t][ci % nr] */
                int c0 = cp * nr, c1 = cin - c0 < nr ? cin : c0 + nr;
                xf->input(g, x, p->runs, nrun, cnt, c0, c1, tb, ts, nr, nbp, &p->b);
                for (int xi = 0; xi < XI4; xi++) {
                    float *dst = vb + xi * vbs + (int64_t)cp * nbp * nr;
                    xf->transpose(c1 - c0, cnt, tb + xi * ts, nbp, dst, nr);
                    for (int t = 0; t < cnt && c1 - c0 < nr; t++) /* channels past cin */
                        for (int j = c1 - c0; j < nr; j++)
                            dst[t * nr + j] = 0.0f;
                }
            }
            for (int qp = 0; qp < rows / mr; qp++) { /* dM[xi][qp][t][i] */
                for (int i = 0; i < mr; i++) {
                    int co = r0 + qp * mr + i;
                    if (co < cout)
                        xf->dy(g, dy, p->runs, nrun, cnt, co, tb + (int64_t)i * nbp, ts, &p->b);
                    else
                        for (int xi = 0; xi < XI4; xi++)
                            memset(tb + xi * ts + (int64_t)i * nbp, 0, sizeof(float) * (size_t)cnt);
                }
                for (int xi = 0; xi < XI4; xi++)
                    xf->transpose(mr, cnt, tb + xi * ts, nbp,
                                  dm + xi * dms + (int64_t)qp * nbp * mr, mr);
            }
            for (int xi = 0; xi < XI4; xi++)
                for (int qp = 0; qp < rows / mr; qp++)
                    for (int cp = 0; cp < cpan; cp++)
                        u->fn(cnt, dm + xi * dms + (int64_t)qp * nbp * mr,
                              vb + xi * vbs + (int64_t)cp * nbp * nr,
                              du + xi * dus + (int64_t)qp * mr * cinp + cp * nr, cinp, b > b0);
        }
        for (int rr = 0; rr < rows && r0 + rr < cout; rr++)
            for (int ci = 0; ci < cin; ci++)
                transform_dw(du + (int64_t)rr * cinp + ci, dus,
                             out + ((int64_t)(r0 + rr) * cin + ci) * 9);
    }
}

/* dweight = G^T (sum over all tiles of dM V^T) G. Threads split the output channels in mr
 * panels. When dweight fits HALF_FLOATS, the tile blocks are cut into two fixed halves
 * (kernels/batch_halves.c), the second's sums in thread 0's half buffer; two threads then
 * each transform half of the batch instead of both transforming all of it (with 64 output
 * channels that was most of the work). Either way every element is summed in an order fixed by
 * the shape, so the bits are the same for any thread count. */
void difu_conv2d_bwd_weights_winograd(const difu_kernels *k, const difu_conv2d_desc *d,
                                      const float *x, const float *dy, float *dweight,
                                      float *dbias, void *scratch, int ith, int nth)
{
    const difu_gemm_ukernel *u = &k->gemm_ukernel;
    wgeom g;
    wgeom_init(&g, u, 4, d->n, d->cin, d->cout, d->h, d->w);
    wparts p = split_scratch(k, scratch, ith, &g);
    const int64_t nblocks = (g.tiles + g.nbp - 1) / g.nbp, nw = (int64_t)d->cout * d->cin * 9;
    const int npc = (d->cout + g.mr - 1) / g.mr, halves = nblocks >= 2 && nw <= HALF_FLOATS ? 2 : 1;
    for (int h = 0; h < halves; h++) {
        int sub_ith = ith, sub_nth = nth;
        if (halves == 2 && !difu_half_team(h, ith, nth, &sub_ith, &sub_nth))
            continue;
        int q0 = (int)((int64_t)npc * sub_ith / sub_nth);
        int q1 = (int)((int64_t)npc * (sub_ith + 1) / sub_nth);
        bwd_weights_blocks(k, d, &g, &p, x, dy, nblocks * h / halves, nblocks * (h + 1) / halves,
                           q0, q1, h ? p.half : dweight);
    }
    if (halves == 2)
        difu_add_second_half(dweight, p.half, nw, ith, nth);
    if (dbias)
        difu_conv2d_bias_grad(dy, d->n, d->cout, (int64_t)d->h * d->w, dbias, ith, nth);
    /* thread 0's dU and half buffer are in the team's shared part: nobody may start the next
     * Winograd kernel (which writes its weights there) while another thread still reads them */
    if (nth > 1) {
#pragma omp barrier
    }
}
