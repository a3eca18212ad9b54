#!/usr/bin/python3
"""Run the PyTorch U-Net on a batch: the same contract as `difu predict`, for cross-checks.

  predict.py --ckpt MODEL.safetensors --in BATCH.safetensors --out EPS.safetensors
      BATCH holds x F32 [N,C,H,W], t I64 [N] and optionally y I64 [N]; EPS gets eps F32 [N,C,H,W].
      The config comes from the checkpoint's "difu.config" metadata; without it, from the tensor
      shapes (GroupNorm group counts are not visible in shapes: a known config with the same
      structure supplies them, else pass --groups '[[0,32]]').
  predict.py --write-ckpt FILE --config fmnist-t [--seed S] [--init default|random]
      a PyTorch-made checkpoint (parameters + difu.config metadata).
  predict.py --write-batch FILE --config fmnist-t [--batch N] [--seed S] [--no-y]
      a batch: x ~ N(0,1), t spread over [0, 1000), y cycling 0..num_classes (includes null).
  predict.py --compare A.safetensors B.safetensors [--tensor eps]
      prints max |a - b| / max |b| and exits 1 if above --tol (default 1e-4).
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from unet import CONFIGS, UNet, UNetConfig  # noqa: E402


def infer_config(tensors, img_size, groups=None):
    """UNetConfig from parameter shapes (see module doc for the groups rule)."""
    w_in = tensors["conv_in.weight"]
    ch, in_ch = int(w_in.shape[0]), int(w_in.shape[1])
    num_classes = int(tensors["class_emb.weight"].shape[0]) - 1 if "class_emb.weight" in tensors else 0
    entries = sorted({int(m.group(1)) for k in tensors for m in [re.match(r"down\.(\d+)\.", k)] if m})
    is_down = [f"down.{i}.0.conv.weight" in tensors for i in entries]
    levels = sum(is_down) + 1
    nrb = (len(entries) - sum(is_down)) // levels
    ch_mult, attn_res, res, i = [], [], img_size, 0
    for level in range(levels):
        for _ in range(nrb):
            if level == len(ch_mult):
                ch_mult.append(int(tensors[f"down.{i}.0.conv1.weight"].shape[0]) // ch)
            if f"down.{i}.1.qkv.weight" in tensors and res not in attn_res:
                attn_res.append(res)
            i += 1
        if level != levels - 1:
            i += 1
            res = (res - 1) // 2 + 1
    base = dict(ch=ch, ch_mult=tuple(ch_mult), num_res_blocks=nrb, attn_res=tuple(attn_res),
                num_classes=num_classes, img_size=img_size, in_ch=in_ch)
    if groups is not None:
        return UNetConfig(groups=tuple(tuple(p) for p in groups), **base)
    for name, known in CONFIGS.items():
        if all(getattr(known, k) == v for k, v in base.items()):
            print(f"predict: no difu.config; shapes match '{name}', using its groups {known.groups}")
            return UNetConfig(**{**known.__dict__, **base})
    raise SystemExit("predict: no difu.config in the checkpoint and no known config has these "
                     "shapes; pass --groups (e.g. '[[0,32]]')")


def load_model(path, img_size, prefix="", groups=None):
    tensors, meta = st.read_file(path)
    tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if "difu.config" in meta:
        cfg = UNetConfig.from_json(meta["difu.config"])
    else:
        cfg = infer_config(tensors, img_size, groups)
    model = UNet(cfg).eval()
    want = model.state_dict()
    missing = [k for k in want if k not in tensors]
    if missing:
        raise SystemExit(f"predict: {path} lacks {len(missing)} tensors, e.g. {prefix}{missing[0]}")
    for k, v in want.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise SystemExit(f"predict: {path}: {prefix}{k} has shape {list(tensors[k].shape)}, "
                             f"config needs {list(v.shape)}")
    model.load_state_dict({k: torch.from_numpy(tensors[k].astype(np.float32)) for k in want})
    return model, cfg


def predict(args):
    batch, _ = st.read_file(args.inp)
    for k in ("x", "t"):
        if k not in batch:
            raise SystemExit(f"predict: {args.inp} has no tensor '{k}'")
    x = torch.from_numpy(batch["x"].astype(np.float32))
    t = torch.from_numpy(batch["t"].astype(np.int64))
    y = torch.from_numpy(batch["y"].astype(np.int64)) if "y" in batch else None
    if x.dim() != 4 or t.shape != (x.shape[0],) or (y is not None and y.shape != t.shape):
        raise SystemExit(f"predict: x {list(x.shape)}, t {list(t.shape)}, y "
                         f"{None if y is None else list(y.shape)}: need [N,C,H,W], [N], [N]")
    groups = json.loads(args.groups) if args.groups else None
    model, cfg = load_model(args.ckpt, int(x.shape[-1]), args.prefix, groups)
    if x.shape[1:] != (cfg.in_ch, cfg.img_size, cfg.img_size):
        raise SystemExit(f"predict: x is {list(x.shape)}, model takes [N,{cfg.in_ch},"
                         f"{cfg.img_size},{cfg.img_size}]")
    with torch.no_grad():
        eps = model(x, t, y)
    st.write_file(args.out, {"eps": eps}, {"difu.producer": "tools/pytorch/predict.py"})
    print(f"predict: {list(x.shape)} -> {args.out} (config {cfg.to_json()})")


def write_ckpt(args):
    cfg = CONFIGS[args.config]
    torch.manual_seed(args.seed)
    model = UNet(cfg)
    if args.init == "random":
        model.randomize_all(args.seed)
    meta = {"difu.config": cfg.to_json(), "difu.img_size": str(cfg.img_size),
            "difu.in_ch": str(cfg.in_ch)}
    size = st.write_file(args.write_ckpt, model.state_dict(), meta)
    print(f"wrote {args.write_ckpt}: {args.config}, init {args.init}, seed {args.seed}, {size} bytes")


def write_batch(args):
    cfg = CONFIGS[args.config]
    g = torch.Generator().manual_seed(args.seed)
    n = args.batch
    x = torch.randn((n, cfg.in_ch, cfg.img_size, cfg.img_size), generator=g)
    t = torch.tensor([(i * 997 + 3) % 1000 for i in range(n)], dtype=torch.int64)
    tensors = {"x": x, "t": t}
    if cfg.num_classes and not args.no_y:
        tensors["y"] = torch.tensor([i % (cfg.num_classes + 1) for i in range(n)], dtype=torch.int64)
    st.write_file(args.write_batch, tensors)
    print(f"wrote {args.write_batch}: {', '.join(f'{k} {list(v.shape)}' for k, v in tensors.items())}")


def compare(args):
    a, _ = st.read_file(args.compare[0])
    b, _ = st.read_file(args.compare[1])
    va, vb = a[args.tensor].astype(np.float64), b[args.tensor].astype(np.float64)
    if va.shape != vb.shape:
        raise SystemExit(f"compare: {args.tensor} shapes {list(va.shape)} vs {list(vb.shape)}")
    err = np.abs(va - vb).max() / max(np.abs(vb).max(), 1e-30)
    print(f"compare {args.tensor}: max|a-b|/max|b| = {err:.3e} over {va.size} values")
    return 0 if err <= args.tol else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--ckpt")
    ap.add_argument("--in", dest="inp")
    ap.add_argument("--out")
    ap.add_argument("--prefix", default="", help="tensor name prefix in the checkpoint (e.g. ema.)")
    ap.add_argument("--groups", help="groups rule JSON when the checkpoint has no difu.config")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--write-ckpt")
    ap.add_argument("--write-batch")
    ap.add_argument("--config", default="fmnist-t", choices=list(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default="random", choices=["default", "random"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--no-y", action="store_true")
    ap.add_argument("--compare", nargs=2)
    ap.add_argument("--tensor", default="eps")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.compare:
        return compare(args)
    if args.write_ckpt:
        write_ckpt(args)
    if args.write_batch:
        write_batch(args)
    if args.ckpt or args.inp or args.out:
        if not (args.ckpt and args.inp and args.out):
            ap.error("predict needs --ckpt, --in and --out")
        predict(args)
    elif not (args.write_ckpt or args.write_batch):
        ap.error("nothing to do: give --ckpt/--in/--out, --write-ckpt, --write-batch or --compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
