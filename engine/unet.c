/* unet.c: the U-Net of shared/MODEL.md as a graph, for any config (widths, levels, ResBlocks per
 * level, attention resolutions, classes or none, GroupNorm groups rule). Module and tensor names
 * are the checkpoint keys (shared/model/<preset>.keys.txt); each line notes the shape it makes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unet.h"

typedef struct builder {
    difu_graph *g;
    const difu_model_config *c;
    int n;
    int key;   /* dropout key input, -1 when there is no dropout */
    int sites; /* dropout sites so far (each its own Philox stream) */
} builder;

/* A parameter named "<prefix>.<what>" with the given dims. */
static int param(builder *b, const char *prefix, const char *what, int ndim, int64_t d0, int64_t d1,
                 int64_t d2, int64_t d3)
{
    char name[2 * DIFU_NAME_LEN]; /* the graph keeps DIFU_NAME_LEN - 1 characters of it */
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    int64_t shape[4] = {d0, d1, d2, d3};
    return difu_g_param(b->g, name, ndim, shape);
}

/* A conv's parameters (weight, bias), registered apart from its node so that the parameters keep
 * the checkpoint's order when nodes are built in another one. */
typedef struct conv_params {
    int w, b;
} conv_params;

static conv_params conv_param(builder *b, const char *name, int cin, int cout, int k)
{
    conv_params c = {param(b, name, "weight", 4, cout, cin, k, k),
                     param(b, name, "bias", 1, cout, 0, 0, 0)};
    return c;
}

static int conv(builder *b, const char *name, int x, int cin, int cout, int k, int stride)
{
    conv_params c = conv_param(b, name, cin, cout, k);
    return difu_g_conv2d(b->g, name, x, c.w, c.b, stride);
}

static int linear(builder *b, const char *name, int x, int in, int out)
{
    int w = param(b, name, "weight", 2, out, in, 0, 0);
    int bias = param(b, name, "bias", 1, out, 0, 0, 0);
    return difu_g_linear(b->g, name, x, w, bias);
}

static int norm(builder *b, const char *name, int x, int c, int fuse_silu)
{
    int gamma = param(b, name, "weight", 1, c, 0, 0, 0);
    int beta = param(b, name, "bias", 1, c, 0, 0, 0);
    return difu_g_groupnorm(b->g, name, x, gamma, beta, difu_model_groups(b->c, c), b->c->gn_eps,
                            fuse_silu);
}

static const char *join(char *buf, size_t len, const char *prefix, const char *what)
{
    snprintf(buf, len, "%s.%s", prefix, what);
    return buf;
}

/* ResBlock(cin, cout): x [N,cin,H,W], emb = SiLU(temb + class_emb[y]) [N,4ch] -> [N,cout,H,W].
 * The time embedding is added by conv1 and the skip path by conv2 (fused adds, graph.h). */
static int resblock(builder *b, const char *p, int x, int emb, int cin, int cout)
{
    char s[DIFU_NAME_LEN];
    int h = norm(b, join(s, sizeof s, p, "norm1"), x, cin, 1);           /* [N,cin,H,W] */
    conv_params c1 = conv_param(b, join(s, sizeof s, p, "conv1"), cin, cout, 3);
    int tp = linear(b, join(s, sizeof s, p, "temb_proj"), emb, 4 * b->c->ch, cout); /* [N,cout] */
    h = difu_g_conv2d_add(b->g, join(s, sizeof s, p, "conv1"), h, c1.w, c1.b, 1, tp, -1);
    h = norm(b, join(s, sizeof s, p, "norm2"), h, cout, 1);               /* [N,cout,H,W] */
    if (b->key >= 0)
        h = difu_g_dropout(b->g, join(s, sizeof s, p, "dropout"), h, b->key, b->c->dropout, b->sites++);
    conv_params c2 = conv_param(b, join(s, sizeof s, p, "conv2"), cout, cout, 3);
    int skip = x;
    if (cin != cout)
        skip = conv(b, join(s, sizeof s, p, "nin"), x, cin, cout, 1, 1);  /* [N,cout,H,W] */
    return difu_g_conv2d_add(b->g, p, h, c2.w, c2.b, 1, -1, skip);
}

/* AttnBlock(C): x + proj(attention(qkv(norm(x)))). [N,C,H,W] -> [N,C,H,W]. */
static int attnblock(builder *b, const char *p, int x, int c)
{
    char s[DIFU_NAME_LEN];
    int h = norm(b, join(s, sizeof s, p, "norm"), x, c, 0);
    h = conv(b, join(s, sizeof s, p, "qkv"), h, c, 3 * c, 1, 1);          /* [N,3C,H,W] */
    h = difu_g_attention(b->g, join(s, sizeof s, p, "attn"), h);          /* [N,C,H,W] */
    h = conv(b, join(s, sizeof s, p, "proj"), h, c, c, 1, 1);
    return difu_g_add(b->g, p, x, h);
}

static int has_attn(const difu_model_config *c, int res)
{
    for (int i = 0; i < c->n_attn_res; i++)
        if (c->attn_res[i] == res)
            return 1;
    return 0;
}

/* Stage "<path>.<i>": a ResBlock ("<i>.0"), then an AttnBlock ("<i>.1") at attention
 * resolutions. */
static int stage(builder *b, const char *path, int i, int x, int emb, int cin, int cout, int res)
{
    char p0[DIFU_NAME_LEN], p1[DIFU_NAME_LEN];
    snprintf(p0, sizeof p0, "%s.%d.0", path, i);
    snprintf(p1, sizeof p1, "%s.%d.1", path, i);
    int h = resblock(b, p0, x, emb, cin, cout);
    if (has_attn(b->c, res))
        h = attnblock(b, p1, h, cout);
    return h;
}

#define MAX_SKIPS (DIFU_MODEL_MAX_LEVELS * 16 + 1)

difu_status difu_unet_build(difu_graph *g, const difu_model_config *c, int n, int train,
                            difu_unet_io *io)
{
    builder b = {g, c, n, -1, 0};
    const int ch = c->ch, S = c->img_size;
    memset(io, 0xff, sizeof *io); /* every field -1 */
    if (c->n_levels * (c->num_res_blocks + 1) + 1 > MAX_SKIPS) {
        difu_graph_fail(g, DIFU_ERR_INVALID_ARG, "unet: too many blocks");
        return g->status;
    }
    int64_t xshape[4] = {n, c->in_ch, S, S}, nshape[1] = {n};
    io->x = difu_g_input(g, "x", DIFU_F32, 4, xshape);
    io->t = difu_g_input(g, "t", DIFU_I64, 1, nshape);
    if (c->num_classes > 0)
        io->y = difu_g_input(g, "y", DIFU_I64, 1, nshape);
    if (train && c->dropout > 0) {
        int64_t two[1] = {2};
        b.key = io->key = difu_g_input(g, "dropout_key", DIFU_I64, 1, two);
    }

    /* Time and class embedding: emb = SiLU(dense1(SiLU(dense0(sinusoid(t)))) + class_emb[y]). */
    int temb = difu_g_timestep_embedding(g, "temb", io->t, ch);             /* [N,ch] */
    temb = linear(&b, "temb_dense0", temb, ch, 4 * ch);                    /* [N,4ch] */
    temb = difu_g_silu(g, "temb_dense0.silu", temb);
    temb = linear(&b, "temb_dense1", temb, 4 * ch, 4 * ch);               /* [N,4ch] */
    if (c->num_classes > 0) {
        int64_t tshape[2] = {c->num_classes + 1, 4 * ch};
        int table = difu_g_param(g, "class_emb.weight", 2, tshape);
        int cls = difu_g_embedding(g, "class_emb", table, io->y);          /* [N,4ch] */
        temb = difu_g_add(g, "emb", temb, cls);
    }
    int emb = difu_g_silu(g, "emb.silu", temb); /* what every ResBlock's temb_proj sees */

    int skips[MAX_SKIPS], n_skips = 0, skip_ch[MAX_SKIPS];
    int h = conv(&b, "conv_in", io->x, c->in_ch, ch, 3, 1);                /* [N,ch,S,S] */
    skips[n_skips] = h;
    skip_ch[n_skips++] = ch;
    int cur = ch, res = S, level_res[DIFU_MODEL_MAX_LEVELS], di = 0;
    for (int level = 0; level < c->n_levels; level++) {
        level_res[level] = res;
        for (int r = 0; r < c->num_res_blocks; r++) {
            h = stage(&b, "down", di++, h, emb, cur, ch * c->ch_mult[level], res);
            cur = ch * c->ch_mult[level];
            skips[n_skips] = h;
            skip_ch[n_skips++] = cur;
        }
        if (level != c->n_levels - 1) {
            char p[DIFU_NAME_LEN];
            snprintf(p, sizeof p, "down.%d.0.conv", di++);
            h = conv(&b, p, h, cur, cur, 3, 2);                             /* [N,cur,res/2,res/2] */
            skips[n_skips] = h;
            skip_ch[n_skips++] = cur;
            res = (res - 1) / 2 + 1;
        }
    }
    h = resblock(&b, "mid1", h, emb, cur, cur);
    h = attnblock(&b, "mid_attn", h, cur);
    h = resblock(&b, "mid2", h, emb, cur, cur);

    int ui = 0;
    for (int level = c->n_levels - 1; level >= 0; level--) {
        res = level_res[level];
        for (int r = 0; r < c->num_res_blocks + 1; r++) {
            char p[DIFU_NAME_LEN];
            snprintf(p, sizeof p, "up.%d.cat", ui);
            n_skips--;
            int cin = cur + skip_ch[n_skips];
            h = difu_g_concat(g, p, h, skips[n_skips]);                    /* [N,cin,res,res] */
            h = stage(&b, "up", ui++, h, emb, cin, ch * c->ch_mult[level], res);
            cur = ch * c->ch_mult[level];
        }
        if (level != 0) {
            char p[DIFU_NAME_LEN];
            snprintf(p, sizeof p, "up.%d.0.up", ui);
            h = difu_g_upsample2x(g, p, h);                                /* [N,cur,2res,2res] */
            snprintf(p, sizeof p, "up.%d.0.conv", ui++);
            h = conv(&b, p, h, cur, cur, 3, 1);
        }
    }
    h = norm(&b, "norm_out", h, cur, 1);
    io->eps = conv(&b, "conv_out", h, cur, c->in_ch, 3, 1);                /* [N,in_ch,S,S] */
    difu_g_keep(g, io->eps);
    if (!train)
        return g->status;
    io->target = difu_g_input(g, "target", DIFU_F32, 4, xshape);
    io->loss = difu_g_mse_loss(g, "loss", io->eps, io->target);
    difu_g_keep(g, io->loss);
    if (g->status != DIFU_OK)
        return g->status;
    return difu_autodiff_build(g, io->loss);
}

/* The module of a parameter: its name without the last ".weight" / ".bias". */
static void module_of(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s", name);
    char *dot = strrchr(buf, '.');
    if (dot)
        *dot = 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

difu_init_kind difu_unet_init_rule(const difu_graph *g, int p, float *bound)
{
    const difu_gtensor *t = &g->tensors[p];
    char mod[DIFU_NAME_LEN];
    module_of(t->name, mod, sizeof mod);
    const char *last = strrchr(mod, '.');
    last = last ? last + 1 : mod;
    *bound = 0;
    if (strcmp(t->name, "class_emb.weight") == 0)
        return DIFU_INIT_NORMAL;
    if (strncmp(last, "norm", 4) == 0)
        return ends_with(t->name, ".weight") ? DIFU_INIT_ONE : DIFU_INIT_ZERO;
    if (strcmp(last, "conv2") == 0 || strcmp(last, "proj") == 0 || strcmp(mod, "conv_out") == 0)
        return DIFU_INIT_ZERO;
    /* fan_in from the module's weight (a bias shares its weight's bound) */
    char wname[DIFU_NAME_LEN + 8];
    snprintf(wname, sizeof wname, "%s.weight", mod);
    int w = difu_graph_find(g, wname);
    const difu_gtensor *wt = w >= 0 ? &g->tensors[w] : t;
    int64_t fan_in = difu_gtensor_numel(wt) / wt->shape[0];
    *bound = (float)(1.0 / sqrt((double)fan_in));
    return DIFU_INIT_UNIFORM;
}
