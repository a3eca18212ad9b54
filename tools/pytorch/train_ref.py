#!/usr/bin/python3
"""PyTorch reference training run with difu's recipe, for comparing loss curves.

Trains the U-Net of unet.py on Fashion-MNIST the way `difu train` does (engine/trainer.c):
t ~ U[0, T), eps ~ N(0, I), x_t by q_sample, MSE on eps, labels dropped to the null class with
p 0.1 (--cond), Adam (0.9, 0.999, eps 1e-8) with linear lr warm-up lr * (s + 1) / warmup for the
first `warmup` steps, global gradient-norm clip, pixels scaled to [-1, 1], shuffled every epoch.
The random draws are PyTorch's, not difu's, so the two curves agree statistically, not bit for
bit. Start both from the same weights with --init (a checkpoint from `difu init --model NAME
--seed S`, which are the weights `difu train --seed S` starts from).

Writes OUT/loss.csv (step,loss,lr,grad_norm,img_per_s: the columns of difu's loss.csv) and
OUT/model.safetensors (final weights, difu's key names).

    /usr/bin/python3 tools/pytorch/train_ref.py --model fmnist-t --cond --batch 64 --steps 4500 \\
        --lr 5e-4 --warmup 200 --threads 2 --init init.safetensors --out runs/torch-ref
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
from predict import load_model  # noqa: E402
from unet import CONFIGS, Diffusion, UNet, make_optimizer  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path, magic, dims):
    """An IDX file (optionally gzip'ed) as a uint8 array of shape [n] + dims."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    head = 4 + 4 * (1 + len(dims))
    if len(blob) < head or struct.unpack(">I", blob[:4])[0] != magic:
        raise SystemExit(f"train_ref: {path}: not an IDX file with magic {magic:#x}")
    shape = struct.unpack(">" + "I" * (1 + len(dims)), blob[4:head])
    if list(shape[1:]) != list(dims):
        raise SystemExit(f"train_ref: {path}: dims {shape[1:]}, expected {dims}")
    data = np.frombuffer(blob, dtype=np.uint8, offset=head)
    if data.size != int(np.prod(shape)):
        raise SystemExit(f"train_ref: {path}: {data.size} bytes of data, header says {shape}")
    return data.reshape(shape)


def load_fashion_mnist(folder, img_size):
    x = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), 0x803, [img_size, img_size])
    y = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), 0x801, [])
    x = torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0)[:, None]
    return x, torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="fmnist-t", choices=sorted(CONFIGS))
    ap.add_argument("--cond", action="store_true", help="class-conditional, label dropout p 0.1")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--schedule", default="linear", choices=["linear", "cosine"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from this difu checkpoint's weights")
    ap.add_argument("--data", default=FASHION_MNIST, help="folder with the Fashion-MNIST files")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    cfg = CONFIGS[args.model]
    if args.init:
        model, cfg = load_model(args.init, cfg.img_size)
    else:
        model = UNet(cfg)
    if not args.cond:
        model.class_emb = None
    model.train()
    x_all, y_all = load_fashion_mnist(args.data, cfg.img_size)
    diffusion = Diffusion(args.T, args.schedule)
    opt = make_optimizer(model, args.lr)
    os.makedirs(args.out, exist_ok=True)

    csv_path = os.path.join(args.out, "loss.csv")
    csv = open(csv_path + ".tmp", "w")
    csv.write("step,loss,lr,grad_norm,img_per_s\n")
    order, pos, smoothed, t_start = None, len(x_all), None, time.time()
    for s in range(args.steps):
        t0 = time.time()
        if pos + args.batch > len(x_all):
            order, pos = torch.randperm(len(x_all), generator=gen), 0
        idx = order[pos:pos + args.batch]
        pos += args.batch
        lr = args.lr * (s + 1) / args.warmup if s < args.warmup else args.lr
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = diffusion.loss(model, x_all[idx], y_all[idx] if args.cond else None, gen=gen)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                               args.clip if args.clip > 0 else float("inf"))
        opt.step()
        loss = float(loss)
        ips = args.batch / max(time.time() - t0, 1e-9)
        csv.write(f"{s + 1},{loss:.7g},{lr:.7g},{float(gnorm):.6g},{ips:.2f}\n")
        smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
        if (s + 1) % args.log_every == 0 or s + 1 == args.steps:
            csv.flush()
            el = time.time() - t_start
            print(f"step {s + 1}/{args.steps} loss {loss:.4f} (smoothed {smoothed:.4f}) "
                  f"{args.batch * (s + 1) / el:.1f} img/s elapsed {el:.0f}s", flush=True)
    csv.close()
    os.replace(csv_path + ".tmp", csv_path)
    st.write_file(os.path.join(args.out, "model.safetensors"),
                  {k: v.detach().numpy() for k, v in model.state_dict().items()},
                  {"difu.config": cfg.to_json(), "difu.producer": "tools/pytorch/train_ref.py"})
    print(f"done: {args.steps} steps in {time.time() - t_start:.0f}s -> {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
