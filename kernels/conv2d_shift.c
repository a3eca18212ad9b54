/* conv2d_shift.c: packing-free ("shifted-pointer") convolutions for k=3 stride 1 or 2 pad 1 and
 * k=1 stride 1 pad 0, ISA-generic, on the table's gemm_ukernel.shift micro-kernels.
 *
 * Slab. A band of R rows of G images of a [n, C, h, w] tensor is copied into this thread's
 * scratch as C planes of `plane` floats, zero-padded: p = pad zeros lead each plane, then R + 2p
 * rows of pitch wp = G*(w+p), image g at column g*(w+p) followed by p zero columns (the right pad
 * of one row is the left pad of the next), then zeros. Output point o = rr*wp + g*(w+p) + c (band
 * row rr, column c < w valid, c == w garbage) reads tap (kh, kw) at slab[o + kh*wp + kw]: for
 * every o the same shift, so a vector of consecutive output points is one unaligned load per tap,
 * with no im2col packing. Outputs are computed for o < npixc (npix = R*wp rounded up to the
 * vector) into a tile buffer Ys and the valid points copied out. Stride 2: the slab holds the 4
 * phases x[2i+ph][2j+pw] of each channel on the output grid, and each tap reads one phase.
 *
 * forward:        y[co][o]  = sum over (ci, t) of w[co][ci][t]         * X[ci][o + off_t]
 * backward-data:  dx[ci][o] = sum over (co, t) of w[co][ci][taps-1-t]  * DY[co][o + off_t]
 *                 (stride 2: per dx phase, over the taps that reach it)
 * backward-weights: dw[co][ci][t] = sum over slabs, o of DYs[co][o] * X[ci][o + off_t], with DYs
 *                  the slab-shaped dy whose garbage points are zero (dot-product micro-kernel).
 * Every output element is computed by one thread with a summation order fixed by the image shape
 * alone (k blocks, slab order), so results are bit-identical for any thread count, and forward
 * and backward-data ones for any batch size.
 *
 * Scratch layout (64-byte aligned): three int32 tables of KMAX, an A tail tile MRMAX*KMAX floats,
 * then SLAB_FLOATS floats for the slab and Ys (or DYs). */
#include <string.h>

#include "conv2d_winograd.h"
#include "gemm_conv.h"

/* SLAB_FLOATS bounds slab + Ys (about half a 1 MiB L2); BWDW_FLOATS bounds slab + DYs of
 * backward-weights, which takes dy CO_CHUNK channels at a time. */
enum {
    KMAX = 4608,
    MRMAX = 8,
    SLAB_FLOATS = 160 * 1024,
    BWDW_FLOATS = 128 * 1024,
    CO_CHUNK = 32
};

typedef struct geom {
    int direct;           /* 1x1 read in place, no slab (see shift_run) */
    int n, c, h, w;       /* n images, c channels, output grid h x w */
    int sh, sw;           /* the source tensor's [n, c, sh, sw] image size */
    int ppc;              /* slab planes per channel: 1, or the 4 phases of a stride-2 source */
    int cc;               /* channels per slab (backward-weights may take them in chunks) */
    int p, taps;          /* pad (0 or 1), taps (1 or 9) */
    int g, r, bands;      /* images per slab, output rows per band, bands per image */
    int wp;               /* row pitch g*(w+p) */
    int64_t npix, npixc;  /* r*wp, rounded up to the vector length */
    int64_t plane;        /* floats per slab channel */
    int32_t off[9];       /* tap shifts kh*wp + kw (stride 2: within the tap's phase plane) */
    int32_t phase[9];     /* the tap's phase plane (stride 2), else 0 */
    /* Output placement: point (a, b) of the grid, a < vh and b < vw, goes to row a*ostep + oa,
     * column b*ostep + ob of an oh_dst x ow_dst image (backward-data stride 2: one dx phase). */
    int oh_dst, ow_dst, ostep, oa, ob, vh, vw;
} geom;

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

static size_t align_floats(size_t x) { return (x + 15) & ~(size_t)15; }

size_t difu_conv_shift_scratch_bytes(const difu_gemm_ukernel *u)
{
    if (!u->shift.fn)
        return 0;
    return (3 * align_floats(KMAX) + align_floats((size_t)MRMAX * KMAX) + SLAB_FLOATS) *
               sizeof(float) + 64;
}

static void set_geom(geom *g, int gimg, int r, int vl)
{
    g->g = gimg;
    g->r = r;
    g->bands = (g->h + r - 1) / r;
    g->wp = gimg * (g->w + g->p);
    g->npix = (int64_t)r * g->wp;
    g->npixc = round_up(g->npix, vl);
    g->plane = round_up(g->npixc + 2 * g->p * ((int64_t)g->wp + 1), 16);
    int k = g->taps == 9 ? 3 : 1;
    for (int t = 0; t < g->taps; t++) {
        int kh = t / k, kw = t % k;
        if (g->ppc == 4) { /* input row 2a+kh-1: phase kh != 1, phase row a-1 (kh 0) or a */
            g->phase[t] = (kh != 1) * 2 + (kw != 1);
            g->off[t] = (int32_t)((kh != 0) * g->wp + (kw != 0));
        } else {
            g->phase[t] = 0;
            g->off[t] = (int32_t)(kh * g->wp + kw);
        }
    }
}

/* 1 when `extra` planes of npixc floats and the slab fit the budget, with all c channels at once
 * or (chunks = 1) in equal chunks; sets g->cc. */
static int fits(geom *g, int c, int extra, int64_t budget, int chunks)
{
    int64_t per = (int64_t)g->ppc * g->plane, room = budget - (int64_t)extra * g->npixc;
    int64_t cc = room < 0 ? 0 : room / per;
    if (cc >= c)
        cc = c;
    else if (!chunks || cc < 1)
        return 0;
    int64_t nch = (c + cc - 1) / cc;
    g->cc = (int)((c + nch - 1) / nch);
    return 1;
}

/* Chooses images per slab and rows per band, from the shape alone, such that the slab (c planes)
 * and `extra` planes of npixc floats fit `budget` floats (<= SLAB_FLOATS):
 * min_waste = 1 (forward, backward-data): direct mode when possible, else the images per slab
 * (up to 16) that waste the least time on garbage columns, the vector tail and part tiles;
 * min_waste = 0 (backward-weights): about 768 points per slab (at least one image), to amortise
 * the dot kernel's lane sums while few channel chunks are needed. Then fewer images, then fewer
 * rows per band, until it fits. Returns 0 when even a one-row band does not fit. */
static int plan(geom *g, const difu_conv2d_desc *d, int c, int extra, int min_waste,
                const difu_conv_shift_ukernels *u, int64_t budget)
{
    const int vl = u->vl;
    g->direct = 0;
    g->n = d->n, g->c = c, g->sh = d->h, g->sw = d->w;
    g->h = (d->h + 2 * d->pad - d->k) / d->stride + 1;
    g->w = (d->w + 2 * d->pad - d->k) / d->stride + 1;
    g->ppc = d->stride == 2 ? 4 : 1;
    g->p = d->pad, g->taps = d->k * d->k;
    g->oh_dst = g->vh = g->h, g->ow_dst = g->vw = g->w, g->ostep = 1, g->oa = g->ob = 0;
    const int64_t img_pts = (int64_t)g->h * (g->w + d->pad);
    int gimg = 1;
    if (min_waste && d->pad == 0 && img_pts % vl == 0) { /* direct: Ys for one row block only */
        set_geom(g, 1, g->h, vl);
        g->direct = (int64_t)u->mr * g->npixc <= budget;
        g->cc = c;
        if (g->direct)
            return 1;
    }
    if (min_waste) {
        double best = 0.0;
        for (int t = 1; t <= 16 && t <= d->n; t++) {
            set_geom(g, t, g->h, vl);
            /* cost of the pixel tiles (a tile of nv vectors ~ nv + 1/4) per valid vector */
            int64_t nvec = g->npixc / vl, full = nvec / u->nv_max, rem = nvec % u->nv_max;
            double cost = (double)full * (u->nv_max + 0.25) + (rem ? rem + 0.25 : 0.0);
            double waste = cost * vl / ((double)t * g->h * g->w);
            if (!fits(g, c, extra, budget, 0))
                break;
            if (t == 1 || waste < best * 0.99)
                best = waste, gimg = t;
        }
    } else {
        gimg = (int)(768 / img_pts);
        if (gimg < 1)
            gimg = 1;
        if (gimg > d->n)
            gimg = d->n;
    }
    for (; gimg >= 1; gimg--) {
        set_geom(g, gimg, g->h, vl);
        if (fits(g, c, extra, budget, !min_waste))
            return 1;
    }
    for (int r = g->h - 1; r >= 1; r--) {
        set_geom(g, 1, r, vl);
        if (fits(g, c, extra, budget, !min_waste)) { /* bands of equal height */
            int bands = (g->h + r - 1) / r;
            set_geom(g, 1, (g->h + bands - 1) / bands, vl);
            return fits(g, c, extra, budget, !min_waste);
        }
    }
    return 0;
}

/* Stride 2: plane (ch, ph, pw) holds the phase x[2i+ph][2j+pw] (i, j on the output grid); each
 * source row is read once and split into its two column phases. */
static void build_slab_phases(const geom *g, const float *src, int i0, int band, int c0, int c1,
                              float *slab)
{
    const int w = g->w, r0 = band * g->r;
    const int64_t shw = (int64_t)g->sh * g->sw, used = 1 + (int64_t)(g->r + 2) * g->wp;
    const int even = (g->sw + 1) / 2 < w ? (g->sw + 1) / 2 : w, odd = g->sw / 2 < w ? g->sw / 2 : w;
    for (int ch = c0; ch < c1; ch++) {
        float *pl = slab + (int64_t)(ch - c0) * 4 * g->plane;
        for (int ph = 0; ph < 2; ph++) {
            float *p0 = pl + (int64_t)ph * 2 * g->plane, *p1 = p0 + g->plane;
            p0[0] = p1[0] = 0.0f;
            for (int j = 0; j < g->r + 2; j++) {
                int i = r0 - 1 + j, row = 2 * i + ph;
                float *d0 = p0 + 1 + (int64_t)j * g->wp, *d1 = p1 + 1 + (int64_t)j * g->wp;
                for (int gi = 0; gi < g->g; gi++, d0 += w + 1, d1 += w + 1) {
                    int img = i0 + gi, n0 = 0, n1 = 0; /* values written to d0, d1 */
                    if (img < g->n && i >= 0 && row < g->sh) {
                        const float *s =
                            src + ((int64_t)img * g->c + ch) * shw + (int64_t)row * g->sw;
                        for (int c = 0; c < odd; c++) {
                            d0[c] = s[2 * c];
                            d1[c] = s[2 * c + 1];
                        }
                        if (odd < even)
                            d0[odd] = s[2 * odd];
                        n0 = even, n1 = odd;
                    }
                    for (int e = n0; e <= w; e++)
                        d0[e] = 0.0f;
                    for (int e = n1; e <= w; e++)
                        d1[e] = 0.0f;
                }
            }
            memset(p0 + used, 0, sizeof(float) * (size_t)(g->plane - used));
            memset(p1 + used, 0, sizeof(float) * (size_t)(g->plane - used));
        }
    }
}

/* Copies band `band` of images [i0, i0+g), channels [c0, c1) of src [n, c, h, w] into the slab,
 * zeros included (stride 2: its phases). */
static void build_slab(const geom *g, const float *src, int i0, int band, int c0, int c1,
                       float *slab)
{
    if (g->ppc == 4) {
        build_slab_phases(g, src, i0, band, c0, c1, slab);
        return;
    }
    const int p = g->p, w = g->w;
    const int r0 = band * g->r;
    const int64_t hw = (int64_t)g->h * w;
    for (int ch = c0; ch < c1; ch++) {
        float *pl = slab + (ch - c0) * g->plane;
        if (p)
            pl[0] = 0.0f;
        for (int j = 0; j < g->r + 2 * p; j++) {
            int row = r0 - p + j;
            float *d = pl + p + (int64_t)j * g->wp;
            for (int gi = 0; gi < g->g; gi++, d += w + p) {
                int img = i0 + gi;
                if (img < g->n && row >= 0 && row < g->h)
                    memcpy(d, src + ((int64_t)img * g->c + ch) * hw + (int64_t)row * w,
                           sizeof(float) * (size_t)w);
                else
                    memset(d, 0, sizeof(float) * (size_t)w);
                if (p)
                    d[w] = 0.0f;
            }
        }
        int64_t used = p + (int64_t)(g->r + 2 * p) * g->wp;
        memset(pl + used, 0, sizeof(float) * (size_t)(g->plane - used));
    }
}

/* Copies output rows [0, m) of the tile buffer ys (row stride npixc) to channels [c0, c0+m) of
 * dst [n, cdst, h, w] for the slab's images and band, adding bias[c0 + i] when bias != NULL. */
static void copy_out(const geom *g, const float *ys, int m, int c0, int cdst, const float *bias,
                     int i0, int band, float *dst)
{
    const int r0 = band * g->r, st = g->ostep, vw = g->vw;
    const int64_t ohw = (int64_t)g->oh_dst * g->ow_dst;
    for (int i = 0; i < m; i++) {
        float bv = bias ? bias[c0 + i] : 0.0f;
        for (int gi = 0; gi < g->g && i0 + gi < g->n; gi++) {
            float *out = dst + ((int64_t)(i0 + gi) * cdst + c0 + i) * ohw +
                         (int64_t)(r0 * st + g->oa) * g->ow_dst + g->ob;
            const float *in = ys + (int64_t)i * g->npixc + (int64_t)gi * (g->w + g->p);
            for (int rr = 0; rr < g->r && r0 + rr < g->vh;
                 rr++, out += (int64_t)st * g->ow_dst, in += g->wp) {
                if (st != 1)
                    for (int c = 0; c < vw; c++)
                        out[c * st] = in[c] + bv;
                else if (bias)
                    for (int c = 0; c < vw; c++)
                        out[c] = in[c] + bv;
                else
                    memcpy(out, in, sizeof(float) * (size_t)vw);
            }
        }
    }
}

typedef struct scratch_parts {
    int32_t *aoff, *aid, *boff;
    float *apad, *slab;
} scratch_parts;

static scratch_parts split_scratch(void *scratch)
{
    scratch_parts s;
    float *f = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.aoff = (int32_t *)f;
    s.aid = (int32_t *)(f + align_floats(KMAX));
    s.boff = (int32_t *)(f + 2 * align_floats(KMAX));
    s.apad = f + 3 * align_floats(KMAX);
    s.slab = s.apad + align_floats((size_t)MRMAX * KMAX);
    return s;
}

/* The slab offset of k index ch*taps + t. */
static int32_t slab_offset(const geom *g, int64_t pitch, int ch, int t)
{
    return (int32_t)(((int64_t)ch * g->ppc + g->phase[t]) * pitch + g->off[t]);
}

/* Channels per k block: the slab rows one pixel tile reads over a block should stay in L1 and the
 * block's weights (m rows of `taps` per channel) in L2. The blocks fix the summation order, so they
 * depend on the image shape only, never on the batch or the images per slab: an image gets the
 * same bits in any batch. */
static int channel_block(const geom *g, int nr, int m, int taps)
{
    int64_t per_ch = (int64_t)(nr + 2 * g->p * (g->w + g->p + 1)) * g->ppc * (int64_t)sizeof(float);
    int64_t cb = (int64_t)24 * 1024 / per_ch;
    int64_t cb_a = (int64_t)256 * 1024 / ((int64_t)m * taps * (int64_t)sizeof(float));
    if (cb > cb_a)
        cb = cb_a;
    if (cb < 1)
        cb = 1;
    int nblk = (int)((g->c + cb - 1) / cb);
    return (g->c + nblk - 1) / nblk;
}

/* One pass of the micro-kernel over a slab: A row i, k index q = ch*taps + t is
 * a[i*lda + aoff[q]] (the last, partial row block from apad, mr rows of kk, through aid), and B's
 * k index q is the slab at boff[q]. */
typedef struct pass {
    int taps;
    const int32_t *aoff, *boff;
    const float *apad;
} pass;

/* 1 when a partial row block of `rows` valid rows runs the one-row kernel per row: up to mr/4
 * rows (2 of 8, 1 of 4). Its nv accumulators wait on the FMA latency (~4 cycles per k and row);
 * the mr-row kernel over zero rows issues mr*nv FMAs per k (~mr*nv/2 cycles at 2 a cycle). */
static int one_row_block(const difu_conv_shift_ukernels *u, int rows)
{
    return u->fn1 && 4 * rows <= u->mr;
}

/* Fills pass p's A tail tile: rows [m0, m) of the last row block, zero-padded to mr rows. */
static void fill_apad(const pass *p, int c, const float *a, int64_t lda, int m, int mr,
                      float *apad)
{
    const int kk = c * p->taps, m0 = m - m % mr;
    for (int i = 0; i < mr; i++)
        for (int q = 0; q < kk; q++)
            apad[(int64_t)i * kk + q] = m0 + i < m ? a[(int64_t)(m0 + i) * lda + p->aoff[q]] : 0.0f;
}

/* Output rows of row blocks [blo, bhi) for all of the slab's points: k blocks of channels (their
 * weights stay in L2) outermost, then pixel tiles (their slab rows stay in L1), then row blocks.
 * Rows go to ys (row stride npixc); in direct mode full row blocks go straight to direct_dst
 * (row stride h*w, bias added), and only the partial last block to ys. */
static void pass_rows(const difu_conv_shift_ukernels *u, const geom *g, const pass *p,
                      const int32_t *aid, const float *a, int64_t lda, int m, int blo, int bhi,
                      const float *b, float *ys, float *direct_dst, const float *bias)
{
    const int mr = u->mr, taps = p->taps, kk = g->c * taps, nr = u->nv_max * u->vl;
    const int cb = channel_block(g, nr, m, taps);
    const int64_t hw = (int64_t)g->h * g->w;
    for (int c0 = 0; c0 < g->c; c0 += cb) {
        int kc = (g->c - c0 < cb ? g->c - c0 : cb) * taps, q0 = c0 * taps;
        int last = c0 + cb >= g->c;
        for (int64_t pb = 0; pb < g->npixc; pb += nr) {
            int nv = g->npixc - pb < nr ? (int)((g->npixc - pb) / u->vl) : u->nv_max;
            for (int blk = blo; blk < bhi; blk++) {
                int m0 = blk * mr;
                int full = m - m0 >= mr;
                const float *ab = full ? a + (int64_t)m0 * lda : p->apad;
                int64_t ld = full ? lda : kk;
                const int32_t *ao = full ? p->aoff : aid;
                if (!full && one_row_block(u, m - m0)) {
                    for (int i = 0; i < m - m0; i++)
                        u->fn1(kc, a + (int64_t)(m0 + i) * lda, lda, p->aoff + q0, b + pb,
                               p->boff + q0, nv, ys + (int64_t)(m0 + i) * g->npixc + pb,
                               g->npixc, c0 > 0);
                } else if (direct_dst && full) {
                    float *c = direct_dst + (int64_t)m0 * hw + pb;
                    u->fn(kc, ab, ld, ao + q0, b + pb, p->boff + q0, nv, c, hw, c0 > 0);
                    if (last && bias)
                        for (int i = 0; i < mr; i++)
                            for (int j = 0; j < nv * u->vl; j++)
                                c[i * hw + j] += bias[m0 + i];
                } else {
                    u->fn(kc, ab, ld, ao + q0, b + pb, p->boff + q0, nv,
                          ys + (int64_t)m0 * g->npixc + pb, g->npixc, c0 > 0);
                }
            }
        }
    }
}

/* This thread's share [it0, it1) of the (slab, row block) items: items of one slab are
 * consecutive, so a thread walks slabs in order with a range of row blocks in each. */
typedef struct item_range {
    int64_t it0, it1;
    int nblocks;
} item_range;

static item_range thread_items(const geom *g, int m, int mr, int ith, int nth)
{
    item_range r;
    r.nblocks = (m + mr - 1) / mr;
    const int64_t nslabs = (int64_t)((g->n + g->g - 1) / g->g) * g->bands;
    const int64_t items = nslabs * r.nblocks;
    r.it0 = items * ith / nth, r.it1 = items * (ith + 1) / nth;
    return r;
}

/* The next slab of the range from item *it: its index, and its row blocks [*blo, *bhi). */
static int64_t next_slab(const item_range *r, int64_t *it, int *blo, int *bhi)
{
    int64_t sl = *it / r->nblocks;
    *blo = (int)(*it % r->nblocks);
    *bhi = r->it1 - sl * r->nblocks < r->nblocks ? (int)(r->it1 - sl * r->nblocks) : r->nblocks;
    *it = sl * r->nblocks + *bhi;
    return sl;
}

/* out[i][o] = sum over k < kk of a[i*lda + aoff[k]] * slab[boff[k] + o] for the m output channels
 * (rows of A), the shared body of forward and stride-1 backward-data. The slab source is src
 * [n, g->c, h, w]; the output dst [n, m, h, w]. Threads take contiguous ranges of the
 * (slab, row block) items; Ys holds the slab's output rows.
 * Direct mode (1x1 convolutions, one image per slab, h*w a multiple of the vector): the kernel
 * reads the image in place and writes whole row blocks straight into dst, no copies. */
static void shift_run(const difu_kernels *k, const geom *g, const float *src, const float *a,
                      int64_t lda, int m, const float *bias, float *dst, scratch_parts *s,
                      int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    const int mr = u->mr, taps = g->taps, kk = g->c * taps;
    const int direct = g->direct;
    const int64_t hw = (int64_t)g->h * g->w, pitch = direct ? hw : g->plane;
    for (int ch = 0; ch < g->c; ch++)
        for (int t = 0; t < taps; t++)
            s->boff[ch * taps + t] = slab_offset(g, pitch, ch, t);
    for (int q = 0; q < kk; q++)
        s->aid[q] = q;
    item_range r = thread_items(g, m, mr, ith, nth);
    if (r.it0 >= r.it1)
        return;
    pass p = {.taps = taps, .aoff = s->aoff, .boff = s->boff, .apad = s->apad};
    if (m % mr && !one_row_block(u, m % mr)) /* else the one-row kernel reads a in place */
        fill_apad(&p, g->c, a, lda, m, mr, s->apad);
    float *ys = direct ? s->slab : s->slab + (int64_t)g->c * g->ppc * g->plane;
    for (int64_t it = r.it0; it < r.it1;) {
        int blo, bhi;
        int64_t sl = next_slab(&r, &it, &blo, &bhi);
        int i0 = (int)(sl / g->bands) * g->g, band = (int)(sl % g->bands);
        const float *b = direct ? src + (int64_t)i0 * g->c * hw : s->slab;
        if (!direct)
            build_slab(g, src, i0, band, 0, g->c, s->slab);
        pass_rows(u, g, &p, s->aid, a, lda, m, blo, bhi, b, ys,
                  direct ? dst + (int64_t)i0 * m * hw : NULL, bias);
        int r0 = blo * mr, r1 = bhi * mr < m ? bhi * mr : m;
        if (direct) /* only the zero-padded last row block went through Ys */
            r0 = r1 % mr && r1 == m ? r1 - r1 % mr : r1;
        copy_out(g, ys + (int64_t)r0 * g->npixc, r1 - r0, r0, m, bias, i0, band, dst);
    }
}

/* A 1x1 convolution does not care where a point sits in its image: [n, c, h, w] is run as
 * [n, c, 1, h*w], so each image's plane is one slab row segment (one copy in, one out, and no
 * short rows) instead of h rows of w. */
static const difu_conv2d_desc *flat_1x1(const difu_conv2d_desc *d, difu_conv2d_desc *flat)
{
    if (d->k != 1 || d->h == 1)
        return d;
    *flat = *d;
    flat->w = d->h * d->w;
    flat->h = 1;
    return flat;
}

/* k=3 stride 1 pad 1 and k=1 stride 1 pad 0; with stride2, also k=3 stride 2 pad 1. */
static int shift_shape(const difu_conv2d_desc *d, int stride2)
{
    if (d->k == 3 && d->pad == 1)
        return d->stride == 1 || (stride2 && d->stride == 2);
    return d->k == 1 && d->pad == 0 && d->stride == 1;
}

void difu_conv2d_fwd_shift(const difu_kernels *k, const difu_conv2d_desc *d, const float *x,
                           const float *weight, const float *bias, float *y, void *scratch,
                           int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    int kk = d->cin * d->k * d->k;
    if (difu_winograd_fits(d)) {
        difu_conv2d_fwd_winograd(k, d, x, weight, bias, y, scratch, ith, nth);
        return;
    }
    difu_conv2d_desc flat;
    d = flat_1x1(d, &flat);
    if (!u->fn || !shift_shape(d, 1) || kk > KMAX ||
        !plan(&g, d, d->cin, (int)round_up(d->cout, u->mr), 1, u, SLAB_FLOATS)) {
        difu_conv2d_fwd_igemm(k, d, x, weight, bias, y, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    for (int q = 0; q < kk; q++) /* A[co][q] = w[co][q] */
        s.aoff[q] = q;
    shift_run(k, &g, x, weight, kk, d->cout, bias, y, &s, ith, nth);
}

/* Copies rows [r0, r1) of the four phase tile buffers ys[ph*2 + pw] (row stride npixc, over the
 * dy grid) to channels [r0, r1) of dx [n, m, dh, dw], interleaving the phases:
 * dx[2a + ph][2b + pw] = ys[ph*2 + pw][a][b]. */
static void copy_out_phases(const geom *g, float *const ys[4], int r0, int r1, int m, int dh,
                            int dw, int i0, int band, float *dx)
{
    const int a0 = band * g->r, pairs = dw / 2;
    for (int i = r0; i < r1; i++)
        for (int gi = 0; gi < g->g && i0 + gi < g->n; gi++) {
            float *img = dx + ((int64_t)(i0 + gi) * m + i) * dh * dw;
            int64_t at = (int64_t)i * g->npixc + (int64_t)gi * (g->w + g->p);
            for (int rr = 0; rr < g->r && a0 + rr < g->h; rr++, at += g->wp)
                for (int ph = 0; ph < 2 && 2 * (a0 + rr) + ph < dh; ph++) {
                    float *out = img + (int64_t)(2 * (a0 + rr) + ph) * dw;
                    const float *e = ys[ph * 2] + at, *o = ys[ph * 2 + 1] + at;
                    for (int b = 0; b < pairs; b++) {
                        out[2 * b] = e[b];
                        out[2 * b + 1] = o[b];
                    }
                    if (dw % 2)
                        out[dw - 1] = e[pairs];
                }
        }
}

/* Stride 2: dx splits into 4 phases (ih % 2, iw % 2); phase (ph, pw) is a stride-1 correlation
 * of dy with the taps that reach it (1, 2, 2 or 4), dy row a + (ph + 1 - kh) / 2. One slab of dy
 * serves all four: per slab, one pass per phase into its own tile buffer, then the phases are
 * interleaved into dx. */
static void bwd_data_phases(const difu_kernels *k, const difu_conv2d_desc *d, const geom *g,
                            const float *dy, const float *weight, float *dx, scratch_parts *s,
                            int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    const int mr = u->mr, cin = d->cin, cout = d->cout;
    pass p[4];
    float *ys[4], *apad[4];
    int k0 = 0;
    for (int q = 0; q < 4; q++) {
        int ph = q / 2, pw = q % 2, nt = 0;
        int32_t *aoff = s->aoff + k0, *boff = s->boff + k0;
        for (int co = 0; co < cout; co++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    if ((ph + 1 - kh) % 2 || (pw + 1 - kw) % 2)
                        continue;
                    int sh = (ph + 1 - kh) / 2, sw = (pw + 1 - kw) / 2;
                    aoff[nt] = (int32_t)((int64_t)co * cin * 9 + kh * 3 + kw);
                    boff[nt] = (int32_t)(co * g->plane + (sh + 1) * g->wp + sw + 1);
                    nt++;
                }
        apad[q] = s->apad + (int64_t)mr * k0;
        p[q] = (pass){.taps = nt / cout, .aoff = aoff, .boff = boff, .apad = apad[q]};
        ys[q] = s->slab + (int64_t)cout * g->plane + q * round_up(cin, mr) * g->npixc;
        k0 += nt;
    }
    for (int q = 0; q < 4 * cout; q++)
        s->aid[q] = q;
    item_range r = thread_items(g, cin, mr, ith, nth);
    if (r.it0 >= r.it1)
        return;
    if (cin % mr && !one_row_block(u, cin % mr)) /* else the one-row kernel reads in place */
        for (int q = 0; q < 4; q++)
            fill_apad(&p[q], cout, weight, 9, cin, mr, apad[q]);
    for (int64_t it = r.it0; it < r.it1;) {
        int blo, bhi;
        int64_t sl = next_slab(&r, &it, &blo, &bhi);
        int i0 = (int)(sl / g->bands) * g->g, band = (int)(sl % g->bands);
        build_slab(g, dy, i0, band, 0, cout, s->slab);
        for (int q = 0; q < 4; q++)
            pass_rows(u, g, &p[q], s->aid, weight, 9, cin, blo, bhi, s->slab, ys[q], NULL, NULL);
        copy_out_phases(g, ys, blo * mr, bhi * mr < cin ? bhi * mr : cin, cin, d->h, d->w, i0,
                        band, dx);
    }
}

void difu_conv2d_bwd_data_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                const float *dy, const float *weight, float *dx, void *scratch,
                                int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    int taps = d->k * d->k, kk = d->cout * taps;
    if (difu_winograd_fits(d)) {
        difu_conv2d_bwd_data_winograd(k, d, dy, weight, dx, scratch, ith, nth);
        return;
    }
    difu_conv2d_desc flat;
    d = flat_1x1(d, &flat);
    /* the slab is dy over its own grid: a stride-1 pad-1 (or 1x1) source */
    difu_conv2d_desc src = {d->n, d->cout, difu_conv2d_out_h(d), difu_conv2d_out_w(d), d->cin,
                            d->k, 1, d->pad};
    /* Ys: cin rows, or four phases of them (stride 2) */
    int ys_rows = (d->stride == 2 ? 4 : 1) * (int)round_up(d->cin, u->mr);
    if (!u->fn || !shift_shape(d, 1) || kk > KMAX ||
        !plan(&g, &src, d->cout, ys_rows, 1, u, SLAB_FLOATS)) {
        difu_conv2d_bwd_data_igemm(k, d, dy, weight, dx, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    if (d->stride == 2) {
        bwd_data_phases(k, d, &g, dy, weight, dx, &s, ith, nth);
        return;
    }
    /* A[ci][co*taps + t] = w[co][ci][taps-1-t]: row ci at weight + ci*taps. */
    for (int co = 0; co < d->cout; co++)
        for (int t = 0; t < taps; t++)
            s.aoff[co * taps + t] = (int32_t)((int64_t)co * d->cin * taps + taps - 1 - t);
    shift_run(k, &g, dy, weight, taps, d->cin, NULL, dx, &s, ith, nth);
}

/* Copies band `band` of images [i0, i0+g) of channels [c0, c1) of dy [n, cdy, h, w] into ys at
 * the slab's output points (row stride npixc), with zeros at every other point. */
static void build_dy(const geom *g, const float *dy, int cdy, int c0, int c1, int i0, int band,
                     float *ys)
{
    const int w = g->w, r0 = band * g->r;
    for (int ch = c0; ch < c1; ch++) {
        float *row = ys + (int64_t)(ch - c0) * g->npixc;
        memset(row, 0, sizeof(float) * (size_t)g->npixc);
        for (int gi = 0; gi < g->g && i0 + gi < g->n; gi++) {
            const float *in = dy + (((int64_t)(i0 + gi) * cdy + ch) * g->h + r0) * w;
            float *out = row + (int64_t)gi * (w + g->p);
            for (int rr = 0; rr < g->r && r0 + rr < g->h; rr++, in += w, out += g->wp)
                memcpy(out, in, sizeof(float) * (size_t)w);
        }
    }
}

/* dweight[co][q] (=, or += when !first) sum over the slab's points of ys[co - o0][o] *
 * slab[boff[q] + o], for co in [o0, o1) and q in [q0, q1). k blocks outside: their few slab rows
 * stay in L1 while the dy rows stream from L2. */
static void dot_chunk(const difu_conv_shift_ukernels *u, const geom *g, const float *slab,
                      const int32_t *boff, int q0, int q1, const float *ys, int o0, int o1,
                      int kk, int first, float *dweight)
{
    const int dmr = u->dot_mr, dnk = u->dot_nk;
    float out[64];
    int32_t offs[64];
    const float *rows[64];
    for (int qb = q0; qb < q1; qb += dnk) {
        int qn = q1 - qb < dnk ? q1 - qb : dnk;
        for (int j = 0; j < dnk; j++) /* a short block repeats its first entry */
            offs[j] = boff[qb + (j < qn ? j : 0)];
        for (int co = o0; co < o1; co += dmr) {
            int rn = o1 - co < dmr ? o1 - co : dmr;
            for (int i = 0; i < dmr; i++)
                rows[i] = ys + (int64_t)(co + (i < rn ? i : 0) - o0) * g->npixc;
            u->dot(g->npixc / u->vl, rows, slab, offs, out);
            for (int i = 0; i < rn; i++) {
                float *dwr = dweight + (int64_t)(co + i) * kk + qb;
                for (int j = 0; j < qn; j++)
                    dwr[j] = first ? out[i * dnk + j] : dwr[j] + out[i * dnk + j];
            }
        }
    }
}

void difu_conv2d_bwd_weights_shift(const difu_kernels *k, const difu_conv2d_desc *d,
                                   const float *x, const float *dy, float *dweight, float *dbias,
                                   void *scratch, int ith, int nth)
{
    const difu_conv_shift_ukernels *u = &k->gemm_ukernel.shift;
    geom g;
    const int taps = d->k * d->k, kk = d->cin * taps;
    if (difu_winograd_fits(d)) {
        difu_conv2d_bwd_weights_winograd(k, d, x, dy, dweight, dbias, scratch, ith, nth);
        return;
    }
    /* 1x1 as one long row per image: the dot kernel's row streams run the whole plane (on short
     * rows of 7-28 it lost to the packed GEMM on images under 20x20) */
    difu_conv2d_desc flat;
    d = flat_1x1(d, &flat);
    if (!u->fn || !shift_shape(d, 1) || kk > KMAX ||
        !plan(&g, d, d->cin, d->cout < CO_CHUNK ? d->cout : CO_CHUNK, 0, u, BWDW_FLOATS)) {
        difu_conv2d_bwd_weights_igemm(k, d, x, dy, dweight, dbias, scratch, ith, nth);
        return;
    }
    scratch_parts s = split_scratch(scratch);
    const int dmr = u->dot_mr, nblocks = (d->cout + dmr - 1) / dmr;
    const int b0 = (int)((int64_t)nblocks * ith / nth);
    const int b1 = (int)((int64_t)nblocks * (ith + 1) / nth);
    const int c0 = b0 * dmr, c1 = b1 * dmr < d->cout ? b1 * dmr : d->cout;
    if (b0 < b1) {
        for (int ch = 0; ch < d->cin; ch++) /* relative to the chunk's first channel */
            for (int t = 0; t < taps; t++)
                s.boff[ch * taps + t] = slab_offset(&g, g.plane, ch % g.cc, t);
        float *ys = s.slab + (int64_t)g.cc * g.ppc * g.plane;
        const int64_t nslabs = (int64_t)((d->n + g.g - 1) / g.g) * g.bands;
        for (int64_t sl = 0; sl < nslabs; sl++) {
            int i0 = (int)(sl / g.bands) * g.g, band = (int)(sl % g.bands);
            /* x chunks outside (each built once), dy chunks inside (plain copies) */
            for (int ch0 = 0; ch0 < d->cin; ch0 += g.cc) {
                int ch1 = d->cin - ch0 < g.cc ? d->cin : ch0 + g.cc;
                build_slab(&g, x, i0, band, ch0, ch1, s.slab);
                for (int o0 = c0; o0 < c1; o0 += CO_CHUNK) {
                    int o1 = c1 - o0 < CO_CHUNK ? c1 : o0 + CO_CHUNK;
                    if (ch0 == 0 || c1 - c0 > CO_CHUNK) /* else ys still holds it */
                        build_dy(&g, dy, d->cout, o0, o1, i0, band, ys);
                    dot_chunk(u, &g, s.slab, s.boff, ch0 * taps, ch1 * taps, ys, o0, o1, kk,
                              sl == 0, dweight);
                }
            }
        }
    }
    if (!dbias)
        return;
    const int64_t npix = (int64_t)difu_conv2d_out_h(d) * difu_conv2d_out_w(d);
    difu_conv2d_bias_grad(dy, d->n, d->cout, npix, dbias, ith, nth);
}
