/* gemm.c: the blocked, packed GEMM core (see gemm_driver.h), ISA-generic: it packs A and B blocks
 * into this thread's scratch through the problem's callbacks and calls the table's micro-kernel.
 * Edge tiles and tiles whose columns are not contiguous in memory go through a temporary tile.
 *
 * Scratch layout (64-byte aligned parts): A block mc*kc, B block kc*nc, one mr*nr tile. */
#include <string.h>

#include "gemm_driver.h"

#define ALIGN_FLOATS(x) (((size_t)(x) + 15) & ~(size_t)15)

size_t difu_gemm_scratch_bytes(const difu_gemm_ukernel *u)
{
    size_t floats = ALIGN_FLOATS((size_t)u->mc * u->kc) + ALIGN_FLOATS((size_t)u->kc * u->nc) +
                    ALIGN_FLOATS((size_t)u->mr * u->nr);
    return floats * sizeof(float) + 64;
}

difu_gemm_out difu_gemm_out_matrix(float *c, int64_t ldc, int n)
{
    difu_gemm_out o = {c, ldc, 1, n > 0 ? n : 1, 0, 0, 1};
    return o;
}

static int64_t col_offset(const difu_gemm_out *o, int64_t j)
{
    int64_t plane = o->ga * o->gb;
    int64_t img = j / plane, r = j - img * plane;
    int64_t a = r / o->gb, b = r - a * o->gb;
    return img * o->s_img + a * o->s_a + b * o->s_b;
}

/* 1 when columns [j, j+cols) are one contiguous run of memory. */
static int cols_contiguous(const difu_gemm_out *o, int64_t j, int cols)
{
    if (o->s_b != 1)
        return cols == 1;
    int64_t plane = o->ga * o->gb;
    if (j / plane != (j + cols - 1) / plane)
        return 0;
    if (o->s_a == o->gb || o->ga == 1)
        return 1;
    return (j % plane) / o->gb == ((j + cols - 1) % plane) / o->gb;
}

/* One mr x nr tile at (i, j) with `rows` x `cols` valid, over one k block. */
static void run_tile(const difu_gemm_ukernel *u, const difu_gemm_problem *g, int kc,
                     const float *ap, const float *bp, int i, int j, int rows, int cols, int acc,
                     int last, float *tile)
{
    const difu_gemm_out *o = &g->out;
    const int mr = u->mr, nr = u->nr;
    if (rows == mr && cols == nr && cols_contiguous(o, j, cols)) {
        float *c = o->c + (int64_t)i * o->ldc + col_offset(o, j);
        u->fn(kc, ap, bp, c, o->ldc, acc);
        if (last && g->bias)
            for (int r = 0; r < mr; r++) {
                float bv = g->bias[i + r];
                float *cr = c + (int64_t)r * o->ldc;
                for (int q = 0; q < nr; q++)
                    cr[q] += bv;
            }
        return;
    }
    int64_t offs[64];
    int direct_cols = cols_contiguous(o, j, cols);
    for (int q = 0; q < cols; q++)
        offs[q] = direct_cols && q > 0 ? offs[0] + q : col_offset(o, j + q);
    float *cbase = o->c + (int64_t)i * o->ldc;
    if (acc) {
        memset(tile, 0, sizeof(float) * (size_t)mr * nr);
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < cols; q++)
                tile[r * nr + q] = cbase[(int64_t)r * o->ldc + offs[q]];
    }
    u->fn(kc, ap, bp, tile, nr, acc);
    for (int r = 0; r < rows; r++) {
        float bv = last && g->bias ? g->bias[i + r] : 0.0f;
        for (int q = 0; q < cols; q++) {
            float v = tile[r * nr + q];
            cbase[(int64_t)r * o->ldc + offs[q]] = (last && g->bias) ? v + bv : v;
        }
    }
}

void difu_gemm_run(const difu_kernels *k, const difu_gemm_problem *g, int m0, int m1, int n0,
                   int n1, void *scratch)
{
    const difu_gemm_ukernel *u = &k->gemm_ukernel;
    const int mr = u->mr, nr = u->nr, MC = u->mc, NC = u->nc;
    if (m0 >= m1 || n0 >= n1)
        return;
    float *abuf = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *bbuf = abuf + ALIGN_FLOATS((size_t)u->mc * u->kc);
    float *tile = bbuf + ALIGN_FLOATS((size_t)u->kc * u->nc);
    /* k blocks of equal size, fixed by k alone. */
    int K = g->k;
    int kblocks = K > 0 ? (K + u->kc - 1) / u->kc : 0;
    int kcb = kblocks ? (K + kblocks - 1) / kblocks : 0;
    if (K == 0) { /* C = 0 (or unchanged) + bias */
        for (int i = m0; i < m1; i++)
            for (int j = n0; j < n1; j++) {
                float *c = g->out.c + (int64_t)i * g->out.ldc + col_offset(&g->out, j);
                float v = g->accumulate ? *c : 0.0f;
                *c = g->bias ? v + g->bias[i] : v;
            }
        return;
    }
    if (g->k_outer) {
        for (int pc = 0; pc < K; pc += kcb) {
            int kc = K - pc < kcb ? K - pc : kcb;
            int acc = pc > 0 || g->accumulate;
            int last = pc + kc == K;
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = m1 - ic < MC ? m1 - ic : MC;
                g->pack_a(g->ctx_a, ic, mc, pc, kc, mr, abuf);
                for (int jc = n0; jc < n1; jc += NC) {
                    int nc = n1 - jc < NC ? n1 - jc : NC;
                    g->pack_b(g->ctx_b, jc, nc, pc, kc, nr, bbuf);
                    for (int jr = 0; jr < nc; jr += nr) {
                        const float *bp = bbuf + (size_t)(jr / nr) * kc * nr;
                        int cols = nc - jr < nr ? nc - jr : nr;
                        for (int ir = 0; ir < mc; ir += mr) {
                            const float *ap = abuf + (size_t)(ir / mr) * kc * mr;
                            int rows = mc - ir < mr ? mc - ir : mr;
                            run_tile(u, g, kc, ap, bp, ic + ir, jc + jr, rows, cols, acc, last,
                                     tile);
                        }
                    }
                }
            }
        }
        return;
    }
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (int pc = 0; pc < K; pc += kcb) {
            int kc = K - pc < kcb ? K - pc : kcb;
            int acc = pc > 0 || g->accumulate;
            int last = pc + kc == K;
            g->pack_b(g->ctx_b, jc, nc, pc, kc, nr, bbuf);
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = m1 - ic < MC ? m1 - ic : MC;
                g->pack_a(g->ctx_a, ic, mc, pc, kc, mr, abuf);
                for (int jr = 0; jr < nc; jr += nr) {
                    const float *bp = bbuf + (size_t)(jr / nr) * kc * nr;
                    int cols = nc - jr < nr ? nc - jr : nr;
                    for (int ir = 0; ir < mc; ir += mr) {
                        const float *ap = abuf + (size_t)(ir / mr) * kc * mr;
                        int rows = mc - ir < mr ? mc - ir : mr;
                        run_tile(u, g, kc, ap, bp, ic + ir, jc + jr, rows, cols, acc, last, tile);
                    }
                }
            }
        }
    }
}

void difu_gemm_split(const difu_gemm_ukernel *u, int m, int n, int ith, int nth, int *m0,
                     int *m1, int *n0, int *n1)
{
    int64_t mt = (m + u->mr - 1) / u->mr, nt = (n + u->nr - 1) / u->nr;
    int best_tm = 1;
    int64_t best = -1;
    for (int tm = 1; tm <= nth; tm++) {
        if (nth % tm)
            continue;
        int tn = nth / tm;
        int64_t cost = ((mt + tm - 1) / tm) * ((nt + tn - 1) / tn);
        if (best < 0 || cost < best) { /* ties keep the smaller tm: split columns first */
            best = cost;
            best_tm = tm;
        }
    }
    int tm = best_tm, tn = nth / tm;
    int im = ith / tn, in = ith % tn;
    int64_t t0 = mt * im / tm, t1 = mt * (im + 1) / tm;
    int64_t s0 = nt * in / tn, s1 = nt * (in + 1) / tn;
    *m0 = (int)(t0 * u->mr);
    *m1 = (int)(t1 * u->mr < m ? t1 * u->mr : m);
    *n0 = (int)(s0 * u->nr);
    *n1 = (int)(s1 * u->nr < n ? s1 * u->nr : n);
    if (*m0 > *m1)
        *m0 = *m1;
    if (*n0 > *n1)
        *n0 = *n1;
}
