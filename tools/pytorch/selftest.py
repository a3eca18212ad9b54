#!/usr/bin/python3
"""Checks of the PyTorch reference against naive formulas written independently here (numpy,
float64 loops), plus the key lists and the safetensors reader. Exit status 0 when all pass.

Usage: /usr/bin/python3 tools/pytorch/selftest.py
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402
import unet  # noqa: E402

FAILED = []


def check(name, got, want, tol=1e-10):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)
    ok = got.shape == want.shape and err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.2e}")
    if not ok:
        FAILED.append(name)


def groupnorm(x, g, gamma, beta, eps):
    n, c, h, w = x.shape
    xg = x.reshape(n, g, -1)
    mu = xg.mean(-1, keepdims=True)
    var = ((xg - mu) ** 2).mean(-1, keepdims=True)
    y = ((xg - mu) / np.sqrt(var + eps)).reshape(n, c, h, w)
    return y * gamma[None, :, None, None] + beta[None, :, None, None]


def conv(x, w, b, stride=1, pad=0):
    n, cin, h, wd = x.shape
    cout, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, cout, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w) + b
    return out


def silu(x):
    return x / (1 + np.exp(-x))


def params(module):
    return {k: v.detach().double().numpy() for k, v in module.state_dict().items()}


def test_embedding():
    t = np.array([0, 1, 17, 999])
    dim = 32
    half = dim // 2
    want = np.zeros((4, dim))
    for n in range(4):
        for i in range(half):
            f = math.exp(-math.log(10000) * i / (half - 1))
            want[n, i] = math.sin(t[n] * f)
            want[n, half + i] = math.cos(t[n] * f)
    got = unet.timestep_embedding(torch.tensor(t), dim, torch.float64)
    check("timestep_embedding", got, want)


def test_attn():
    cfg = unet.CONFIGS["tiny"]
    torch.manual_seed(0)
    m = unet.AttnBlock(32, cfg).double()
    unet.UNet.randomize_all(m, 3)
    x = np.random.default_rng(1).standard_normal((2, 32, 3, 5))
    p = params(m)
    hn = groupnorm(x, 8, p["norm.weight"], p["norm.bias"], 1e-6)
    qkv = conv(hn, p["qkv.weight"], p["qkv.bias"])
    c = 32
    out = np.zeros_like(x)
    for n in range(2):
        q = qkv[n, :c].reshape(c, -1)
        k = qkv[n, c:2 * c].reshape(c, -1)
        v = qkv[n, 2 * c:].reshape(c, -1)
        hw = q.shape[1]
        h = np.zeros((c, hw))
        for i in range(hw):                      # query position
            logits = np.array([q[:, i] @ k[:, j] for j in range(hw)]) / math.sqrt(c)
            w = np.exp(logits - logits.max())
            w /= w.sum()
            h[:, i] = sum(w[j] * v[:, j] for j in range(hw))
        out[n] = x[n] + conv(h.reshape(1, c, 3, 5), p["proj.weight"], p["proj.bias"])[0]
    check("AttnBlock", m(torch.from_numpy(x)).detach(), out)


def test_resblock():
    cfg = unet.CONFIGS["fmnist-t"]
    m = unet.ResBlock(32, 64, 16, cfg).double()
    unet.UNet.randomize_all(m, 4)
    rng = np.random.default_rng(2)
    x, emb = rng.standard_normal((2, 32, 5, 4)), rng.standard_normal((2, 16))
    p = params(m)
    h = conv(silu(groupnorm(x, 8, p["norm1.weight"], p["norm1.bias"], 1e-6)),
             p["conv1.weight"], p["conv1.bias"], pad=1)
    h += (silu(emb) @ p["temb_proj.weight"].T + p["temb_proj.bias"])[:, :, None, None]
    h = conv(silu(groupnorm(h, 32, p["norm2.weight"], p["norm2.bias"], 1e-6)),
             p["conv2.weight"], p["conv2.bias"], pad=1)
    want = conv(x, p["nin.weight"], p["nin.bias"]) + h
    check("ResBlock 32->64", m(torch.from_numpy(x), torch.from_numpy(emb)).detach(), want)


def test_resample():
    torch.manual_seed(0)
    x = np.random.default_rng(3).standard_normal((1, 4, 7, 7))
    d = unet.Downsample(4).double()
    p = params(d)
    check("Downsample 7->4", d(torch.from_numpy(x)).detach(),
          conv(x, p["conv.weight"], p["conv.bias"], stride=2, pad=1))
    u = unet.Upsample(4).double()
    p = params(u)
    up = x.repeat(2, axis=2).repeat(2, axis=3)
    check("Upsample 7->14", u(torch.from_numpy(x)).detach(),
          conv(up, p["conv.weight"], p["conv.bias"], pad=1))


def test_init():
    m = unet.UNet(unet.CONFIGS["fmnist-t"])
    zero = [k for k, v in m.state_dict().items() if not v.any()]
    want = {k for k in m.state_dict() if any(s in k for s in (".conv2.", ".proj.", "conv_out."))}
    want |= {k for k in m.state_dict() if "norm" in k and k.endswith(".bias")}  # GroupNorm beta
    ok = set(zero) == want
    print(f"{'ok  ' if ok else 'FAIL'} DDPM zero init: {len(zero)} zero tensors")
    if not ok:
        FAILED.append("init")
    m.randomize_all(0)
    left = [k for k, v in m.state_dict().items() if not v.all()]
    print(f"{'ok  ' if not left else 'FAIL'} randomize_all leaves no zero entries")
    if left:
        FAILED.append("randomize_all")


def test_keys():
    for name in unet.PARAM_COUNTS:
        problems, n, nt = unet.check_keys(name)
        for p in problems:
            print("  ", p)
        print(f"{'ok  ' if not problems else 'FAIL'} {name} keys: {nt} tensors, {n} parameters")
        if problems:
            FAILED.append(name)


def test_config_json():
    for name, cfg in unet.CONFIGS.items():
        back = unet.UNetConfig.from_json(cfg.to_json())
        ok = back == cfg
        print(f"{'ok  ' if ok else 'FAIL'} {name} config JSON round trip")
        if not ok:
            FAILED.append(f"json {name}")


def main():
    test_embedding()
    test_attn()
    test_resblock()
    test_resample()
    test_init()
    test_keys()
    test_config_json()
    try:
        st._self_test()
    except AssertionError as e:
        print("FAIL safetensors:", e)
        FAILED.append("safetensors")
    print(f"{'all passed' if not FAILED else 'FAILED: ' + ', '.join(FAILED)}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
