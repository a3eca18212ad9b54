#!/usr/bin/python3
"""difu against PyTorch on the same model, batch and threads, alternating in one invocation.

Each round runs, in this order: `difu bench train`, PyTorch's tools/pytorch/bench_torch.py
training, `difu bench sample` (DDIM), PyTorch's DDIM sampling; PyTorch runs once per variant
asked for, "tuned" (glibc told to keep freed memory: the GLIBC_TUNABLES of shared/PERF.md) and
"default" (as installed). Each measurement sits next to the one it is compared with: this machine has slow and fast phases that
last longer than one run, and a pair measured back to back shares its phase. Training and
sampling run in separate processes, so each peak RSS is its own. After R rounds it prints the
medians and the ratios difu / PyTorch for training images/s, DDIM-50 images/s and training peak
RSS (the ratio of the medians), and the median of the per-round ratios (each round's pair).

DDIM-50 images/s = images / (50 x median time of one reverse step), for both (bench_torch.py's
rule), so a few timed steps suffice: --sample-steps sets how many steps difu runs.

Run with Debian's interpreter (it has python3-torch; scripts/setup.sh --with-torch installs it):
  /usr/bin/python3 bench/side_by_side.py --model fmnist-s --batch 128 --threads 2 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUNED = ("glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736:"
         "glibc.malloc.mmap_max=0")


def find_difu(path):
    for p in [path] if path else [os.path.join(ROOT, d, "difu") for d in ("build", "build-bench")]:
        if p and os.access(p, os.X_OK):
            return p
    sys.exit("side_by_side: no difu binary (build it, or pass --difu PATH)")


def last_json(cmd, env=None):
    """Runs cmd, returns the JSON object on the last line of its stdout."""
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"side_by_side: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"side_by_side: no JSON line from {' '.join(cmd)}:\n{r.stdout[-2000:]}")
    out = json.loads(lines[-1])
    out["_wall_s"] = round(time.time() - t0, 1)
    return out


def torch_env(tuned):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if tuned:
        env["GLIBC_TUNABLES"] = TUNED
    return env


def loadavg():
    return os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="fmnist-s", choices=["fmnist-t", "fmnist-s", "tiny"])
    ap.add_argument("--batch", type=int, default=128, help="training batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=5, help="timed training steps per run")
    ap.add_argument("--sample-n", type=int, default=64, help="images per DDIM batch")
    ap.add_argument("--sample-steps", type=int, default=8, help="reverse steps difu runs (timed)")
    ap.add_argument("--conv", default="auto", help="difu's --conv (native, onednn, auto)")
    ap.add_argument("--torch", default="tuned,default", help="PyTorch variants: tuned,default")
    ap.add_argument("--skip-sample", action="store_true")
    ap.add_argument("--difu", default=None, help="the difu binary (default build/difu)")
    args = ap.parse_args()
    difu = find_difu(args.difu)
    bench_torch = os.path.join(ROOT, "tools", "pytorch", "bench_torch.py")
    variants = [v for v in args.torch.split(",") if v]
    res = {"difu": {"train": [], "sample": []}}
    for v in variants:
        res[v] = {"train": [], "sample": []}
    common = ["--model", args.model, "--threads", str(args.threads), "--conv", args.conv]
    tcommon = [sys.executable, bench_torch, "--config", args.model, "--threads", str(args.threads)]
    loads = [loadavg()]
    for r in range(args.rounds):
        d = last_json([difu, "bench", "train", "--batch", str(args.batch),
                       "--steps", str(args.train_steps)] + common)
        res["difu"]["train"].append(d)
        line = f"round {r + 1}: difu train {d['img_per_s']:.2f} img/s, {d['peak_rss_mib']:.0f} MiB"
        for v in variants:
            t = last_json(tcommon + ["--batch", str(args.batch), "--repeats", str(args.train_steps),
                                     "--skip-sample"], torch_env(v == "tuned"))
            res[v]["train"].append(t)
            line += (f" | torch {v} {t['train_img_s']:.2f} img/s, {t['peak_rss_mb']:.0f} MB "
                     f"({d['img_per_s'] / t['train_img_s']:.2f}x)")
        if not args.skip_sample:
            s = last_json([difu, "bench", "sample", "--sampler", "ddim", "--n", str(args.sample_n),
                           "--steps", str(args.sample_steps)] + common)
            s["ddim50"] = args.sample_n / (50 * s["step_ms"] * 1e-3)
            res["difu"]["sample"].append(s)
            line += f"; DDIM-50 difu {s['ddim50']:.3f} img/s"
            for v in variants:
                t = last_json(tcommon + ["--batch", str(args.sample_n), "--sample-batch",
                                         str(args.sample_n), "--repeats", "5", "--skip-train"],
                              torch_env(v == "tuned"))
                t["ddim50"] = args.sample_n / (50 * t["sample_step_ms"] * 1e-3)
                res[v]["sample"].append(t)
                line += f" | torch {v} {t['ddim50']:.3f} ({s['ddim50'] / t['ddim50']:.2f}x)"
        loads.append(loadavg())
        print(line, flush=True)

    med = statistics.median
    d_train = med([x["img_per_s"] for x in res["difu"]["train"]])
    d_rss = med([x["peak_rss_mib"] for x in res["difu"]["train"]])
    d_gflops = med([x["gflops"] for x in res["difu"]["train"]])
    d_pct = med([x["pct_peak"] or 0 for x in res["difu"]["train"]])
    d_samp = med([x["ddim50"] for x in res["difu"]["sample"]]) if not args.skip_sample else None
    first = res["difu"]["train"][0]
    print(f"\n{args.model}, batch {args.batch}, {args.threads} threads, {args.rounds} rounds "
          f"(medians); difu isa {first['isa']}, conv {first['conv']}; "
          f"load average {min(loads):.1f}..{max(loads):.1f}")
    print(f"{'':18} {'train img/s':>12} {'DDIM-50 img/s':>14} {'train RSS MiB':>14}")
    samp = f"{d_samp:14.3f}" if d_samp else f"{'-':>14}"
    print(f"{'difu':18} {d_train:12.2f} {samp} {d_rss:14.0f}   "
          f"({d_gflops:.0f} GFLOP/s, {d_pct:.0f}% of peak)")
    summary = {"model": args.model, "batch": args.batch, "threads": args.threads,
               "rounds": args.rounds, "loadavg": [round(min(loads), 2), round(max(loads), 2)],
               "difu": {"train_img_s": d_train, "ddim50_img_s": d_samp, "train_rss_mib": d_rss,
                        "gflops": d_gflops, "pct_peak": d_pct}}
    for v in variants:
        t_train = med([x["train_img_s"] for x in res[v]["train"]])
        t_rss = med([x["peak_rss_mb"] for x in res[v]["train"]])
        t_samp = med([x["ddim50"] for x in res[v]["sample"]]) if not args.skip_sample else None
        samp = f"{t_samp:14.3f}" if t_samp else f"{'-':>14}"
        print(f"{'PyTorch ' + v:18} {t_train:12.2f} {samp} {t_rss:14.0f}")
        ratio = {"train": d_train / t_train, "rss": d_rss / t_rss}
        if t_samp:
            ratio["ddim50"] = d_samp / t_samp
        print(f"{'difu / ' + v:18} {ratio['train']:11.2f}x "
              + (f"{ratio['ddim50']:13.2f}x " if t_samp else f"{'-':>14} ")
              + f"{ratio['rss']:13.2f}x")
        paired = {"train": med([a["img_per_s"] / b["train_img_s"]
                                for a, b in zip(res["difu"]["train"], res[v]["train"])])}
        if t_samp:
            paired["ddim50"] = med([a["ddim50"] / b["ddim50"]
                                    for a, b in zip(res["difu"]["sample"], res[v]["sample"])])
        print(f"{'  per-round ratio':18} {paired['train']:11.2f}x "
              + (f"{paired['ddim50']:13.2f}x" if t_samp else f"{'-':>14}")
              + "   (median of the rounds' pairs)")
        summary[v] = {"train_img_s": t_train, "ddim50_img_s": t_samp, "train_rss_mib": t_rss,
                      "ratio": {k: round(x, 3) for k, x in ratio.items()},
                      "paired_ratio": {k: round(x, 3) for k, x in paired.items()}}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
