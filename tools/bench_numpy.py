#!/usr/bin/env python3
"""Times one Llama/Qwen2 decoder layer in numpy float32 (OpenBLAS matmuls): the baseline that
`sharechain-bench executor` prints beside the canonical executor. Thread count comes from
OPENBLAS_NUM_THREADS (set by the caller before numpy loads). Prints one JSON line:
{"seconds": per-layer time, "numpy": version, "blas": library}.

  OPENBLAS_NUM_THREADS=1 python3 tools/bench_numpy.py --hidden 896 --heads 14 --kv-heads 2 --head-dim 64 \
      --intermediate 4864 --tokens 32 --seconds 1
"""
import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=896)
    ap.add_argument("--heads", type=int, default=14)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--intermediate", type=int, default=4864)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=1.0)
    a = ap.parse_args()
    H, nh, nkv, d, I, T = a.hidden, a.heads, a.kv_heads, a.head_dim, a.intermediate, a.tokens
    rng = np.random.default_rng(1)
    f = np.float32

    def w(r, c):
        return (rng.standard_normal((r, c), dtype=f) / np.sqrt(c)).astype(f)

    Wq, Wk, Wv, Wo = w(nh * d, H), w(nkv * d, H), w(nkv * d, H), w(H, nh * d)
    Wg, Wu, Wd = w(I, H), w(I, H), w(H, I)
    n1, n2 = np.ones(H, f), np.ones(H, f)
    bq, bk, bv = np.zeros(nh * d, f), np.zeros(nkv * d, f), np.zeros(nkv * d, f)
    x = rng.standard_normal((T, H), dtype=f)
    inv = (1.0 / (10000.0 ** (np.arange(0, d, 2) / d))).astype(f)
    ang = np.arange(T, dtype=f)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf, f), 1)
    rep = nh // nkv

    def rms(z, g):
        return z / np.sqrt(np.mean(z * z, axis=1, keepdims=True) + f(1e-6)) * g

    def rot(z):
        z1, z2 = z[..., : d // 2], z[..., d // 2:]
        return np.concatenate([z1 * cos - z2 * sin, z2 * cos + z1 * sin], axis=-1)

    def layer(x):
        h = rms(x, n1)
        q = rot((h @ Wq.T + bq).reshape(T, nh, d))
        k = rot((h @ Wk.T + bk).reshape(T, nkv, d))
        v = (h @ Wv.T + bv).reshape(T, nkv, d)
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        s = np.einsum("thd,jhd->htj", q, k) / f(np.sqrt(d)) + mask
        p = np.exp(s - s.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        o = np.einsum("htj,jhd->thd", p, v).reshape(T, nh * d)
        x = x + o @ Wo.T
        h = rms(x, n2)
        g = h @ Wg.T
        return x + ((g / (1 + np.exp(-g))) * (h @ Wu.T)) @ Wd.T

    layer(x)
    n, t0 = 0, time.perf_counter()
    while True:
        layer(x)
        n += 1
        dt = time.perf_counter() - t0
        if dt >= a.seconds and n >= 3:
            break
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"] + " " + cfg["Build Dependencies"]["blas"].get("version", "")
    except Exception:
        pass
    print(json.dumps({"seconds": dt / n, "numpy": np.__version__, "blas": blas}))


if __name__ == "__main__":
    main()
