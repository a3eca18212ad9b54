#!/usr/bin/python3
"""PyTorch speed baseline for difu: training images/s and DDIM sampling images/s, one JSON line.

Training: one step = forward + backward + grad-norm clip + Adam + EMA (unet.train_step) on a
random batch (x0 U(-1,1), labels 0..9, 10% null) of --batch images. Sampling: DDIM (eta 0) at
--sample-batch images, one model forward per step (--cfg-scale != 1 doubles it); each step is
timed alone and images/s = batch / (ddim_steps * median step time), so a few steps suffice.
Both: --warmup untimed runs, then the median of --repeats. Peak RSS from getrusage; the 1-minute
load average at start and end shows whether others were using the cores.

Usage: bench_torch.py --config fmnist-t --batch 128 --threads 2 [--repeats 5] [--ddim-steps 50]
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import CONFIGS, EMA, Diffusion, UNet, make_optimizer, num_params, train_step  # noqa: E402


def bench_train(model, diff, args, g):
    cfg = model.cfg
    opt = make_optimizer(model)
    ema = EMA(model, decay=0.999)
    shape = (args.batch, cfg.in_ch, cfg.img_size, cfg.img_size)
    x0 = torch.rand(shape, generator=g) * 2 - 1
    y = torch.randint(0, 10, (args.batch,), generator=g) if cfg.num_classes else None
    times, losses = [], []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        loss, _ = train_step(model, opt, ema, diff, x0, y, gen=g)
        dt = time.perf_counter() - t0
        losses.append(loss)
        if i >= args.warmup:
            times.append(dt)
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit(f"bench_torch: non-finite training loss {losses}")
    return statistics.median(times), times


@torch.no_grad()
def bench_sample(model, diff, args, g):
    model.eval()
    cfg, n = model.cfg, args.sample_batch
    x = torch.randn((n, cfg.in_ch, cfg.img_size, cfg.img_size), generator=g)
    y = torch.arange(n) % 10 if cfg.num_classes else None
    ts = list(range(0, diff.T, diff.T // args.ddim_steps))[::-1]
    times = []
    for i in range(args.warmup + args.repeats):
        t, t_prev = ts[i % len(ts)], ts[i % len(ts) + 1] if i % len(ts) + 1 < len(ts) else -1
        t0 = time.perf_counter()
        eps = diff.guided_eps(model, x, torch.full((n,), t, dtype=torch.int64), y, args.cfg_scale)
        ab = float(diff.alphas_cumprod[t])
        ab_prev = float(diff.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
        x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
    if not torch.isfinite(x).all():
        raise SystemExit("bench_torch: non-finite sample")
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="fmnist-t", choices=list(CONFIGS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sample-batch", type=int, default=0, help="default: --batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--cfg-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-sample", action="store_true")
    args = ap.parse_args()
    args.sample_batch = args.sample_batch or args.batch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    model = UNet(CONFIGS[args.config])
    diff = Diffusion()
    out = {"tool": "bench_torch", "torch": torch.__version__, "config": args.config,
           "params": num_params(model), "threads": torch.get_num_threads(), "batch": args.batch,
           "warmup": args.warmup, "repeats": args.repeats,
           "loadavg_1m_start": round(os.getloadavg()[0], 2)}
    if not args.skip_train:
        med, times = bench_train(model, diff, args, g)
        out.update(train_step_ms=round(med * 1e3, 1), train_img_s=round(args.batch / med, 2),
                   train_step_ms_all=[round(v * 1e3, 1) for v in times])
    if not args.skip_sample:
        med, times = bench_sample(model, diff, args, g)
        out.update(sample_batch=args.sample_batch, ddim_steps=args.ddim_steps,
                   cfg_scale=args.cfg_scale, sample_step_ms=round(med * 1e3, 1),
                   sample_img_s=round(args.sample_batch / (med * args.ddim_steps), 3),
                   sample_step_ms_all=[round(v * 1e3, 1) for v in times])
    out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
