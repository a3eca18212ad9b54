#!/usr/bin/python3
"""Write tests/data/golden-<config>.safetensors: a randomized U-Net, one batch, its output,
loss, every parameter gradient and a few intermediate activations, computed by a float32
PyTorch model and checked against a float64 run of the same model.

Tensors in the file (all F32 unless said):
  <param name>      every parameter (randomize_all(seed)), keys as shared/model/*.keys.txt
  x                 [N,in_ch,S,S] noisy input x_t = q_sample(x0, t, noise), linear schedule
  x0                [N,in_ch,S,S] clean input it came from, U(-1, 1)
  t, y              I64 [N] timesteps and labels (y includes the null label num_classes)
  noise             [N,in_ch,S,S] the target
  eps               [N,in_ch,S,S] model output
  loss              [1] mean over all elements of (eps - noise)^2
  act.<point>       intermediate activations: act.temb (after temb_dense1), act.emb
                    (temb + class_emb[y], what ResBlocks get), act.conv_in, act.down.0 (first
                    ResBlock), act.mid1, act.mid_attn, act.up.<last> (input of norm_out)
  grad.<param>      d loss / d param
Metadata: difu.config (JSON, see README.md), difu.img_size, difu.in_ch, difu.batch,
difu.seed, difu.f64_max_rel_err and difu.f64_l2_rel_err (worst tensor's
max|f32 - f64|/max|f64| and ||f32 - f64||/||f64||).

Usage: make_golden.py [--out-dir tests/data] [--config fmnist-t tiny]
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from unet import CONFIGS, Diffusion, UNet  # noqa: E402

GOLDEN = {
    # name: (config, batch, seed, t, y)
    "fmnist-t": ("fmnist-t", 3, 1234, [0, 437, 999], [3, 10, 7]),
    "tiny": ("tiny", 2, 4321, [17, 999], [4, 10]),
}
# float32 roundoff accumulated through the backward is ~1e-5 relative (the peaked attention of
# randomize_all amplifies it); allowed: ||f32 - f64|| / ||f64|| <= 5e-5 and max-relative <= 1e-4.
TOLERANCE_L2 = 5e-5
TOLERANCE_MAX = 1e-4


def run(model, x, t, y, noise, act_names):
    """(eps, loss, grads dict, acts dict) for one forward + backward."""
    model.zero_grad(set_to_none=True)
    acts = {}
    eps = model(x, t, y, acts=acts)
    loss = torch.mean((eps - noise) ** 2)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    acts = {k: acts[k].detach().clone() for k in act_names}
    return eps.detach(), loss.detach().reshape(1), grads, acts


def max_rel_err(a, b):
    """max |a - b| / max |b| (b the float64 reference)."""
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def l2_rel_err(a, b):
    """||a - b|| / ||b|| (b the float64 reference)."""
    a, b = a.double(), b.double()
    scale = b.norm().item()
    return (a - b).norm().item() / (scale if scale > 0 else 1.0)


def make(name, out_dir):
    cfg_name, batch, seed, t_list, y_list = GOLDEN[name]
    cfg = CONFIGS[cfg_name]
    torch.manual_seed(seed)
    model = UNet(cfg).randomize_all(seed).eval()
    g = torch.Generator().manual_seed(seed + 1)
    shape = (batch, cfg.in_ch, cfg.img_size, cfg.img_size)
    x0 = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1).float()
    noise = torch.randn(shape, generator=g, dtype=torch.float64).float()
    t = torch.tensor(t_list, dtype=torch.int64)
    y = torch.tensor(y_list, dtype=torch.int64) if cfg.num_classes else None
    x = Diffusion(schedule="linear").q_sample(x0.double(), t, noise.double()).float()

    act_names = ["temb", "emb", "conv_in", "down.0", "mid1", "mid_attn", f"up.{len(model.up) - 1}"]
    eps, loss, grads, acts = run(model, x, t, y, noise, act_names)

    model64 = copy.deepcopy(model).double()
    eps64, loss64, grads64, acts64 = run(model64, x.double(), t, y, noise.double(), act_names)
    pairs = {"eps": (eps, eps64), "loss": (loss, loss64)}
    pairs.update({f"act.{k}": (acts[k], acts64[k]) for k in act_names})
    pairs.update({f"grad.{k}": (grads[k], grads64[k]) for k in grads})
    errs = {k: max_rel_err(*v) for k, v in pairs.items()}
    l2 = {k: l2_rel_err(*v) for k, v in pairs.items()}
    worst = max(errs, key=errs.get)
    worst_l2 = max(l2, key=l2.get)
    for kind, e in (("max|d|/max|ref|", errs), ("||d||/||ref||", l2)):
        act_w = max((k for k in e if k.startswith("act.")), key=e.get)
        grad_w = max((k for k in e if k.startswith("grad.")), key=e.get)
        print(f"[{name}] float32 vs float64, {kind} per tensor: eps {e['eps']:.2e}, "
              f"loss {e['loss']:.2e}, worst act {e[act_w]:.2e} ({act_w}), "
              f"worst grad {e[grad_w]:.2e} ({grad_w})")
    if l2[worst_l2] > TOLERANCE_L2 or errs[worst] > TOLERANCE_MAX:
        raise SystemExit(f"[{name}] float32 golden values disagree with float64: "
                         f"{worst_l2} {l2[worst_l2]:.2e} (L2), {worst} {errs[worst]:.2e} (max)")

    tensors = {k: v.detach() for k, v in model.state_dict().items()}
    tensors.update({"x": x, "x0": x0, "t": t})
    if y is not None:
        tensors["y"] = y
    tensors.update({"noise": noise, "eps": eps, "loss": loss})
    tensors.update({f"act.{k}": v for k, v in acts.items()})
    tensors.update({f"grad.{k}": v for k, v in grads.items()})
    meta = {"difu.config": cfg.to_json(), "difu.img_size": str(cfg.img_size),
            "difu.in_ch": str(cfg.in_ch), "difu.batch": str(batch), "difu.seed": str(seed),
            "difu.f64_max_rel_err": f"{errs[worst]:.3e}", "difu.f64_l2_rel_err": f"{l2[worst_l2]:.3e}"}
    path = os.path.join(out_dir, f"golden-{name}.safetensors")
    size = st.write_file(path, tensors, meta)

    verify(path, cfg, eps, loss, grads)
    print(f"[{name}] wrote {path}: {size} bytes ({size / 2**20:.2f} MiB), {len(tensors)} tensors, "
          f"loss {loss.item():.6f}")
    return size


def verify(path, cfg, eps, loss, grads):
    """Re-read the file, rebuild the model from it and recompute: must match what was stored."""
    tensors, meta = st.read_file(path)
    from unet import UNetConfig
    cfg2 = UNetConfig.from_json(meta["difu.config"])
    assert cfg2 == cfg, (cfg2, cfg)
    model = UNet(cfg2).eval()
    model.load_state_dict({k: torch.from_numpy(tensors[k]) for k in model.state_dict()})
    y = torch.from_numpy(tensors["y"]) if "y" in tensors else None
    e2, l2, g2, _ = run(model, torch.from_numpy(tensors["x"]), torch.from_numpy(tensors["t"]), y,
                        torch.from_numpy(tensors["noise"]), [])
    assert np.array_equal(tensors["eps"], eps.numpy()) and np.array_equal(tensors["loss"], loss.numpy())
    d = max(max_rel_err(e2, eps), max_rel_err(l2, loss),
            max(max_rel_err(g2[k], torch.from_numpy(tensors[f"grad.{k}"])) for k in g2))
    assert d < 1e-6, f"recomputation from {path} differs by {d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, "..", "..", "tests", "data"))
    ap.add_argument("--config", nargs="+", default=list(GOLDEN), choices=list(GOLDEN))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)
    total = sum(make(n, os.path.normpath(args.out_dir)) for n in args.config)
    print(f"total {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
