#!/usr/bin/python3
"""difu's throughput table: training and DDIM sampling per model and thread count, as markdown.

For each round, model and thread count it runs `difu bench train` (batch B, 5 timed steps after 2
warm-up ones) and `difu bench sample` (DDIM, 64 images, 8 timed reverse steps), then prints one
markdown row per model and thread count with the medians over the rounds: training images/s,
achieved GFLOP/s (3x the forward's direct-convolution FLOPs per image, so Winograd's saving shows
as speed) and percent of the machine's peak, training peak RSS, DDIM-50 images/s (64 images over
50 times the median reverse step, as side_by_side.py counts it), the sampling GFLOP/s, percent of
peak and peak RSS.
The rounds alternate the order of the runs so a machine whose speed drifts affects all alike.
BENCHMARKS.md's throughput tables come from
  python3 bench/throughput.py --models fmnist-t,fmnist-s --threads 1,2 --rounds 3
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import find_difu, last_json  # noqa: E402

FIELDS = ("img_per_s", "gflops", "pct_peak", "peak_rss_mib")


def positive_ints(text):
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of positive integers")
    return vals


def run(difu, kind, model, threads, args):
    if kind == "train":
        cmd = [difu, "bench", "train", "--model", model, "--batch", str(args.batch), "--threads",
               str(threads), "--steps", "5", "--warmup", "2", "--conv", args.conv]
    else:
        cmd = [difu, "bench", "sample", "--model", model, "--sampler", "ddim", "--n",
               str(args.sample_n), "--steps", "8", "--threads", str(threads), "--conv", args.conv]
    out = last_json(cmd)
    if kind == "sample":  # DDIM-50 from the median reverse step, as side_by_side.py
        out["img_per_s"] = args.sample_n / (50 * out["step_ms"] * 1e-3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="fmnist-t,fmnist-s",
                    help="comma-separated: fmnist-t, fmnist-s, tiny")
    ap.add_argument("--threads", type=positive_ints, default=[1, 2], help="e.g. 1,2")
    ap.add_argument("--batch", type=int, default=128, help="training batch")
    ap.add_argument("--sample-n", type=int, default=64, help="images per DDIM batch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conv", default="native", help="difu's --conv (native, onednn, auto)")
    ap.add_argument("--difu", default=None, help="the difu binary (default build/difu)")
    args = ap.parse_args()
    models = args.models.split(",")
    for m in models:
        if m not in ("fmnist-t", "fmnist-s", "tiny"):
            sys.exit(f"throughput: unknown model '{m}' (fmnist-t, fmnist-s, tiny)")
    if args.rounds < 1 or args.batch < 1 or args.sample_n < 1:
        sys.exit("throughput: --rounds, --batch and --sample-n must be at least 1")
    difu = find_difu(args.difu)
    configs = [(m, t) for m in models for t in args.threads]
    res = {(k, c): {f: [] for f in FIELDS} for k in ("train", "sample") for c in configs}
    isa = "?"
    for r in range(args.rounds):
        for c in configs if r % 2 == 0 else reversed(configs):
            for kind in ("train", "sample"):
                out = run(difu, kind, c[0], c[1], args)
                isa = out.get("isa", isa)
                for f in FIELDS:
                    res[(kind, c)][f].append(out[f])
                print(f"round {r + 1}: {kind} {c[0]} {c[1]} thread(s) "
                      f"{out['img_per_s']:.2f} img/s", file=sys.stderr, flush=True)
    med = {key: {f: statistics.median(v) for f, v in d.items()} for key, d in res.items()}
    print(f"\nmedians of {args.rounds} rounds; ISA {isa}, conv {args.conv}, training batch "
          f"{args.batch}, DDIM {args.sample_n} images\n")
    print("| model | threads | train img/s | train GFLOP/s | % of peak | train peak RSS "
          "| DDIM-50 img/s | sample GFLOP/s | % of peak | sample peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        t, s = med[("train", c)], med[("sample", c)]
        print(f"| {c[0]} | {c[1]} | {t['img_per_s']:.2f} | {t['gflops']:.0f} | "
              f"{t['pct_peak']:.0f}% | {t['peak_rss_mib']:.0f} MiB | {s['img_per_s']:.2f} | "
              f"{s['gflops']:.0f} | {s['pct_peak']:.0f}% | {s['peak_rss_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
