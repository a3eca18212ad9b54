#!/usr/bin/python3
"""difu's thread scaling: 1 thread against T threads, alternating in one invocation.

Each round runs `difu bench train` (and, unless --skip-sample, `difu bench sample` with DDIM) at
1 thread and at T threads, in alternating order (1, T, then T, 1 in the next round), so a machine
whose speed drifts over minutes affects both sides alike. After R rounds it prints the medians
and the ratio T threads / 1 thread for training and DDIM-50 images/s (DDIM-50 from the median
reverse step time, as side_by_side.py does). Issue 5 asks for at least
1.8x from 2 threads on fmnist-s training at batch 128:
  python3 bench/thread_scaling.py --model fmnist-s --batch 128 --threads 2 --rounds 5
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import find_difu, last_json  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="fmnist-s", choices=["fmnist-t", "fmnist-s", "tiny"])
    ap.add_argument("--batch", type=int, default=128, help="training batch")
    ap.add_argument("--threads", type=int, default=2, help="T, compared with 1 thread")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=5, help="timed training steps per run")
    ap.add_argument("--sample-n", type=int, default=64, help="images per DDIM batch")
    ap.add_argument("--sample-steps", type=int, default=8, help="timed reverse steps per run")
    ap.add_argument("--conv", default="native", help="difu's --conv (native, onednn, auto)")
    ap.add_argument("--skip-sample", action="store_true")
    ap.add_argument("--difu", default=None, help="the difu binary (default build/difu)")
    args = ap.parse_args()
    if args.threads < 2:
        sys.exit("thread_scaling: --threads must be 2 or more")
    difu = find_difu(args.difu)
    kinds = ["train"] + ([] if args.skip_sample else ["sample"])
    res = {(k, t): [] for k in kinds for t in (1, args.threads)}
    for r in range(args.rounds):
        order = (1, args.threads) if r % 2 == 0 else (args.threads, 1)
        for kind in kinds:
            for t in order:
                if kind == "train":
                    cmd = [difu, "bench", "train", "--model", args.model, "--batch",
                           str(args.batch), "--threads", str(t), "--steps", str(args.train_steps),
                           "--warmup", "2", "--conv", args.conv]
                else:
                    cmd = [difu, "bench", "sample", "--model", args.model, "--sampler", "ddim",
                           "--n", str(args.sample_n), "--steps", str(args.sample_steps),
                           "--threads", str(t), "--conv", args.conv]
                out = last_json(cmd)
                if kind == "sample":  # side_by_side.py's rule: from the median step time
                    out["img_per_s"] = args.sample_n / (50 * out["step_ms"] * 1e-3)
                res[(kind, t)].append(out["img_per_s"])
                print(f"round {r + 1}: {kind} {t} thread(s) {out['img_per_s']:.2f} img/s",
                      flush=True)
    print(f"\n{args.model}, batch {args.batch}, {args.rounds} rounds (medians), conv {args.conv}")
    print(f"{'':10s} {'1 thread':>10s} {str(args.threads) + ' threads':>11s} {'ratio':>7s}")
    for kind in kinds:
        one = statistics.median(res[(kind, 1)])
        many = statistics.median(res[(kind, args.threads)])
        unit = "train img/s" if kind == "train" else "DDIM-50 img/s"
        print(f"{unit:14s} {one:6.2f} {many:11.2f} {many / one:6.2f}x")


if __name__ == "__main__":
    main()
