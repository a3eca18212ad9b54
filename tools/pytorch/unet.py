#!/usr/bin/python3
"""PyTorch reference of difu's U-Net and diffusion setup (shared/MODEL.md), for golden data,
checkpoint cross-checks and speed comparisons.

The module's state_dict keys, order and shapes are the checkpoint format:
shared/model/fmnist-t.keys.txt and fmnist-s.keys.txt (`check_keys()` compares them).
Layouts are PyTorch's: conv [Cout, Cin, kh, kw], linear [out, in], embedding [num, dim];
activations [N, C, H, W].

Run `/usr/bin/python3 tools/pytorch/unet.py` to check keys, shapes and parameter counts.
"""
import copy
import json
import math
import os
import sys
from dataclasses import dataclass, field, asdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class UNetConfig:
    """Hyper-parameters; `to_json()` is the "difu.config" checkpoint metadata (see README.md)."""
    ch: int = 32
    ch_mult: tuple = (1, 2, 2)
    num_res_blocks: int = 2
    attn_res: tuple = (7,)          # resolutions (H == W) whose blocks get an AttnBlock
    dropout: float = 0.0
    num_classes: int = 10           # 0 = unconditional (no class_emb); else num_classes + 1 rows
    groups: tuple = ((0, 8), (64, 32))  # [min_channels, groups]: last entry with min <= C wins
    gn_eps: float = 1e-6
    img_size: int = 28
    in_ch: int = 1

    def num_groups(self, channels):
        g = None
        for min_c, groups in self.groups:
            if channels >= min_c:
                g = groups
        if g is None or channels % g != 0:
            raise ValueError(f"groups rule {self.groups} gives {g} groups for {channels} channels")
        return g

    def to_json(self):
        d = asdict(self)
        d["ch_mult"] = list(self.ch_mult)
        d["attn_res"] = list(self.attn_res)
        d["groups"] = [list(p) for p in self.groups]
        return json.dumps(d, separators=(",", ":"))

    @staticmethod
    def from_json(text):
        d = json.loads(text)
        if d.get("num_classes") is None:
            d["num_classes"] = 0
        d["ch_mult"] = tuple(d["ch_mult"])
        d["attn_res"] = tuple(d["attn_res"])
        d["groups"] = tuple(tuple(p) for p in d["groups"])
        known = UNetConfig.__dataclass_fields__
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"difu.config: unknown keys {sorted(unknown)}")
        return UNetConfig(**d)


CONFIGS = {
    "fmnist-t": UNetConfig(ch=32, groups=((0, 8), (64, 32))),
    "fmnist-s": UNetConfig(ch=64, groups=((0, 32),)),
    "tiny": UNetConfig(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_res=(4,),
                       groups=((0, 8),), img_size=8),
}

PARAM_COUNTS = {"fmnist-t": 1624577, "fmnist-s": 6472705}


def timestep_embedding(t, dim, dtype):
    """[N] integer timesteps -> [N, dim]: [sin(t f_i), cos(t f_i)], f_i = exp(-ln(1e4) i/(half-1)).

    Computed in float64 and rounded to `dtype` (t f_i reaches ~1000 rad: float32 arguments
    would lose ~1e-4 absolute)."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64, device=t.device)
    freq = torch.exp(-math.log(10000.0) * i / (half - 1))
    arg = t.to(torch.float64)[:, None] * freq[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1).to(dtype)


class ResBlock(nn.Module):
    """h = conv1(SiLU(norm1(x))) + temb_proj(SiLU(emb)); h = conv2(dropout(SiLU(norm2(h))));
    out = nin(x) (or x if cin == cout) + h.  x [N,cin,H,W], emb [N,temb_ch] -> [N,cout,H,W]."""

    def __init__(self, cin, cout, temb_ch, cfg):
        super().__init__()
        self.norm1 = nn.GroupNorm(cfg.num_groups(cin), cin, eps=cfg.gn_eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb_ch, cout)
        self.norm2 = nn.GroupNorm(cfg.num_groups(cout), cout, eps=cfg.gn_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))                      # [N,cout,H,W]
        h = h + self.temb_proj(F.silu(emb))[:, :, None, None]      # broadcast over H,W
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))        # [N,cout,H,W]
        return (self.nin(x) if self.nin is not None else x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions. [N,C,H,W] -> [N,C,H,W]."""

    def __init__(self, c, cfg):
        super().__init__()
        self.norm = nn.GroupNorm(cfg.num_groups(c), c, eps=cfg.gn_eps)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, hh, ww = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, c, hh * ww)    # channels: q, k, v
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                  # [N,C,HW] each
        w = torch.einsum("nci,ncj->nij", q, k) * (c ** -0.5)      # [N,HWq,HWk]
        w = torch.softmax(w, dim=-1)                               # over keys
        h = torch.einsum("ncj,nij->nci", v, w)                     # v w^T: [N,C,HW]
        return x + self.proj(h.reshape(n, c, hh, ww))


class Downsample(nn.Module):
    """3x3 conv, stride 2, pad 1: [N,C,H,W] -> [N,C,(H-1)//2+1,(W-1)//2+1]."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest x2 then 3x3 conv pad 1: [N,C,H,W] -> [N,C,2H,2W]."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Stage(nn.ModuleList):
    """One entry of `down` / `up`: [ResBlock, AttnBlock?] or [Downsample] or [Upsample]."""

    def forward(self, h, emb):
        for m in self:
            h = m(h, emb) if isinstance(m, ResBlock) else m(h)
        return h


class UNet(nn.Module):
    """eps = UNet(x [N,in_ch,S,S], t [N] int64, y [N] int64 or None) -> [N,in_ch,S,S]."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch, temb_ch = cfg.ch, 4 * cfg.ch
        self.temb_dense0 = nn.Linear(ch, temb_ch)
        self.temb_dense1 = nn.Linear(temb_ch, temb_ch)
        self.class_emb = nn.Embedding(cfg.num_classes + 1, temb_ch) if cfg.num_classes else None
        self.conv_in = nn.Conv2d(cfg.in_ch, ch, 3, padding=1)

        self.down = nn.ModuleList()
        skip_ch = [ch]
        cur, res, level_res = ch, cfg.img_size, []
        for level, mult in enumerate(cfg.ch_mult):
            level_res.append(res)
            for _ in range(cfg.num_res_blocks):
                blk = Stage([ResBlock(cur, ch * mult, temb_ch, cfg)])
                cur = ch * mult
                if res in cfg.attn_res:
                    blk.append(AttnBlock(cur, cfg))
                self.down.append(blk)
                skip_ch.append(cur)
            if level != len(cfg.ch_mult) - 1:
                self.down.append(Stage([Downsample(cur)]))
                skip_ch.append(cur)
                res = (res - 1) // 2 + 1

        self.mid1 = ResBlock(cur, cur, temb_ch, cfg)
        self.mid_attn = AttnBlock(cur, cfg)
        self.mid2 = ResBlock(cur, cur, temb_ch, cfg)

        self.up = nn.ModuleList()
        self.up_takes_skip = []
        for level in reversed(range(len(cfg.ch_mult))):
            res = level_res[level]
            for _ in range(cfg.num_res_blocks + 1):
                cin = cur + skip_ch.pop()
                cur = ch * cfg.ch_mult[level]
                blk = Stage([ResBlock(cin, cur, temb_ch, cfg)])
                if res in cfg.attn_res:
                    blk.append(AttnBlock(cur, cfg))
                self.up.append(blk)
                self.up_takes_skip.append(True)
            if level != 0:
                self.up.append(Stage([Upsample(cur)]))
                self.up_takes_skip.append(False)
        assert not skip_ch

        self.norm_out = nn.GroupNorm(cfg.num_groups(cur), cur, eps=cfg.gn_eps)
        self.conv_out = nn.Conv2d(cur, cfg.in_ch, 3, padding=1)
        self.zero_init()

    def zero_init(self):
        """DDPM init: conv2 of every ResBlock, proj of every AttnBlock and conv_out start at 0."""
        for m in self.modules():
            targets = []
            if isinstance(m, ResBlock):
                targets = [m.conv2]
            elif isinstance(m, AttnBlock):
                targets = [m.proj]
            for conv in targets:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @torch.no_grad()
    def randomize_all(self, seed):
        """Fill every tensor with random values of a sensible scale (for golden tests: no
        path is zero or identity). Weights U(+-1/sqrt(fan_in)) (conv2/proj/conv_out too; qkv
        2.5x that, so attention logits have std ~2 and the softmax is far from uniform),
        biases U(+-0.1), GroupNorm gamma U(0.75, 1.25) and beta U(+-0.25), class_emb N(0, 0.5^2)."""
        g = torch.Generator().manual_seed(seed)

        def uniform(p, lo, hi):
            p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) * (hi - lo) + lo)

        for name, p in self.named_parameters():
            mod = self.get_submodule(name.rsplit(".", 1)[0])
            if isinstance(mod, nn.GroupNorm):
                if name.endswith("weight"):
                    uniform(p, 0.75, 1.25)
                else:
                    uniform(p, -0.25, 0.25)
            elif isinstance(mod, nn.Embedding):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
            elif name.endswith("bias"):
                uniform(p, -0.1, 0.1)
            else:
                bound = (2.5 if ".qkv." in name else 1.0) / math.sqrt(p[0].numel())
                uniform(p, -bound, bound)
        return self

    def embed(self, t, y):
        """(temb after temb_dense1 [N,4ch], emb given to the ResBlocks = temb + class_emb[y])."""
        e = timestep_embedding(t, self.cfg.ch, self.conv_in.weight.dtype)
        temb = self.temb_dense1(F.silu(self.temb_dense0(e)))
        emb = temb
        if self.class_emb is not None:
            if y is None:
                y = torch.full_like(t, self.cfg.num_classes)
            emb = temb + self.class_emb(y)
        return temb, emb

    def forward(self, x, t, y=None, acts=None):
        """acts: optional dict filled with named intermediate activations (for debugging ports)."""
        def rec(name, v):
            if acts is not None:
                acts[name] = v
            return v

        temb, emb = self.embed(t, y)
        rec("temb", temb)
        rec("emb", emb)
        hs = [rec("conv_in", self.conv_in(x))]                     # [N,ch,S,S]
        h = hs[-1]
        for i, blk in enumerate(self.down):
            h = rec(f"down.{i}", blk(h, emb))
            hs.append(h)
        h = rec("mid1", self.mid1(h, emb))
        h = rec("mid_attn", self.mid_attn(h))
        h = rec("mid2", self.mid2(h, emb))
        for i, (blk, takes) in enumerate(zip(self.up, self.up_takes_skip)):
            if takes:
                h = torch.cat([h, hs.pop()], dim=1)                # h first, then the skip
            h = rec(f"up.{i}", blk(h, emb))
        return self.conv_out(F.silu(self.norm_out(h)))


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def default_keys_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "model"))


def read_keys(path):
    """[(name, shape tuple)] from a shared/model/*.keys.txt file."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, shape = line.split(" ", 1)
            out.append((name, tuple(json.loads(shape))))
    return out


def check_keys(name, keys_dir=None):
    """Compare UNet(CONFIGS[name]) with shared/model/<name>.keys.txt; returns a list of problems."""
    model = UNet(CONFIGS[name])
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    want = read_keys(os.path.join(keys_dir or default_keys_dir(), f"{name}.keys.txt"))
    problems = []
    if len(got) != len(want):
        problems.append(f"{name}: {len(got)} tensors, key list has {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            problems.append(f"{name}: #{i} model has {g[0]} {list(g[1])}, list has {w[0]} {list(w[1])}")
    n = num_params(model)
    if n != PARAM_COUNTS[name]:
        problems.append(f"{name}: {n} parameters, expected {PARAM_COUNTS[name]}")
    return problems, n, len(got)


# ---------------------------------------------------------------------------------------------
# Diffusion


class Diffusion:
    """Noise schedule (T steps, index t in [0, T)), forward process, loss and samplers."""

    def __init__(self, T=1000, schedule="linear"):
        self.T = T
        if schedule == "linear":
            betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
        elif schedule == "cosine":
            s = 0.008
            f = np.cos((np.arange(T + 1, dtype=np.float64) / T + s) / (1 + s) * math.pi / 2) ** 2
            betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
        else:
            raise ValueError(f"unknown schedule {schedule!r} (linear, cosine)")
        self.betas = torch.from_numpy(betas)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)   # alpha_bar_t, float64

    def _ab(self, t, dtype):
        return self.alphas_cumprod[t].to(dtype)[:, None, None, None]

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise (coefficients from float64)."""
        ab = self.alphas_cumprod[t]
        a = ab.sqrt().to(x0.dtype)[:, None, None, None]
        b = (1.0 - ab).sqrt().to(x0.dtype)[:, None, None, None]
        return a * x0 + b * noise

    def loss(self, model, x0, y=None, gen=None, p_uncond=0.1):
        """MSE(eps, model(x_t, t, y)) with t ~ U[0, T), eps ~ N(0, I), labels -> null w.p. p_uncond."""
        n = x0.shape[0]
        t = torch.randint(0, self.T, (n,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype)
        if y is not None and model.class_emb is not None and p_uncond > 0:
            drop = torch.rand(n, generator=gen) < p_uncond
            y = torch.where(drop, torch.full_like(y, model.cfg.num_classes), y)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t, y), noise)

    @torch.no_grad()
    def guided_eps(self, model, x, t, y, w):
        if y is None or w == 1.0 or model.class_emb is None:
            return model(x, t, y)
        null = torch.full_like(y, model.cfg.num_classes)
        e = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        e_cond, e_null = e.chunk(2)
        return e_null + w * (e_cond - e_null)

    @torch.no_grad()
    def ddim_sample(self, model, x, steps=50, y=None, w=1.0, eta=0.0, gen=None, clip_x0=False):
        """DDIM from x = x_T ~ N(0, I) over timesteps 0, T/steps, ..., T - T/steps (reversed);
        the last step goes to alpha_bar = 1. clip_x0 clamps the predicted x0 to [-1, 1]."""
        ts = list(range(0, self.T, self.T // steps))[::-1]
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            tt = torch.full((x.shape[0],), t, dtype=torch.int64)
            eps = self.guided_eps(model, x, tt, y, w)
            ab = float(self.alphas_cumprod[t])
            ab_prev = float(self.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
            x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
            if clip_x0:
                x0 = x0.clamp(-1.0, 1.0)
                eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
            x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=gen, dtype=x.dtype)
        return x

    @torch.no_grad()
    def ddpm_sample(self, model, x, y=None, w=1.0, posterior_var=True, gen=None):
        """DDPM ancestral sampling over all T steps."""
        for t in reversed(range(self.T)):
            tt = torch.full((x.shape[0],), t, dtype=torch.int64)
            eps = self.guided_eps(model, x, tt, y, w)
            beta, ab = float(self.betas[t]), float(self.alphas_cumprod[t])
            x = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
            if t > 0:
                ab_prev = float(self.alphas_cumprod[t - 1])
                var = beta * (1 - ab_prev) / (1 - ab) if posterior_var else beta
                x = x + math.sqrt(var) * torch.randn(x.shape, generator=gen, dtype=x.dtype)
        return x


class EMA:
    """Exponential moving average of the parameters: e = decay e + (1 - decay) p."""

    def __init__(self, model, decay=0.9999):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        for e, p in zip(self.shadow.parameters(), model.parameters()):
            e.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)


def make_optimizer(model, lr=2e-4):
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train_step(model, opt, ema, diffusion, x0, y=None, gen=None, clip=1.0, p_uncond=0.1):
    """One step: loss, backward, clip grad norm to `clip`, Adam, EMA. Returns (loss, grad norm)."""
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = diffusion.loss(model, x0, y, gen=gen, p_uncond=p_uncond)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    if ema is not None:
        ema.update(model)
    return float(loss), float(gnorm)


def main():
    ok = True
    for name in PARAM_COUNTS:
        problems, n, nt = check_keys(name)
        for p in problems:
            print("MISMATCH", p)
        ok = ok and not problems
        print(f"{name}: {nt} tensors, {n} parameters, keys/shapes/order "
              f"{'match' if not problems else 'DIFFER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
