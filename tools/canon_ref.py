#!/usr/bin/env python3
"""Independent reference implementation of `canon-f32-v1` (Specs/verifier-canon-f32-v1.md) and TNS1.

It shares no code with the Swift executor. The canonical path uses numpy only for *element-wise* float32
operations (+, -, *, /, sqrt, comparisons, bit views): numpy's `@`, `sum`, `mean`, `exp`, `sin` and `cos`
use other summation orders or other algorithms, so they appear only in the float64 reference (`f64_*`),
which checks that the canonical output is *right*, not only deterministic.

Commands:
  python3 tools/canon_ref.py golden      regenerate Tests/VerifierTests/Resources/golden/ (bit-exact vectors)
  python3 tools/canon_ref.py tiny        regenerate Genesis/models/tiny/ (devnet test model, deterministic)
  python3 tools/canon_ref.py smollm2     regenerate Tests/VerifierTests/Resources/smollm2/ (needs tools/fetch-models)
  python3 tools/canon_ref.py constants   check every constant of the spec against high-precision values (mpmath)
  python3 tools/canon_ref.py all         golden + tiny + smollm2 + constants

Metric for "right": relative error = max_i |y_i - y64_i| / max_i |y64_i| (infinity norm of the error over the
infinity norm of the float64 output), required <= 1e-4.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from fractions import Fraction
from math import factorial

import numpy as np

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.path.join(ROOT, "Tests", "VerifierTests", "Resources", "golden")
SMOL_DIR = os.path.join(ROOT, "Tests", "VerifierTests", "Resources", "smollm2")
TINY_DIR = os.path.join(ROOT, "Genesis", "models", "tiny")
SMOL_GGUF = os.path.join(ROOT, "tools", ".cache", "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
REL_TOLERANCE = 1e-4
MAX_POSITION = 1 << 20  # position_offset + tokens must not exceed this

# ---------------------------------------------------------------------------------------------------------
# Constants (hex floats, exactly as in the spec; `constants` re-derives them with mpmath).

# float32 exp
EXP_LOG2E = F32(float.fromhex("0x1.715476p+0"))      # f32(log2 e)
EXP_MAGIC = F32(float.fromhex("0x1.8p+23"))          # 1.5 * 2^23: adding and subtracting rounds to an integer
EXP_C1 = F32(float.fromhex("0x1.63p-1"))             # 0.693359375, 9 significant bits: n*C1 is exact
EXP_C2 = F32(float.fromhex("-0x1.bd0106p-13"))       # f32(ln 2 - C1)
EXP_P = [F32(float(Fraction(1, factorial(n)))) for n in range(8)]  # f32 nearest 1/n!, n = 0..7
EXP_HI = F32(88.0)
EXP_LO = F32(-87.0)

# float64 rotary table
D_MAGIC = float.fromhex("0x1.8p+52")                  # 1.5 * 2^52
D_LN2 = float.fromhex("0x1.62e42fefa39efp-1")         # f64(ln 2)
D_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")     # f64(1 / ln 2)
D_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")      # ln 2 truncated to 32 significant bits
D_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")     # f64(ln 2 - LN2_HI)
D_SQRT2 = float.fromhex("0x1.6a09e667f3bcdp+0")       # f64(sqrt 2)
D_TWO_OVER_PI = float.fromhex("0x1.45f306dc9c883p-1") # f64(2 / pi)
D_PIO2_1 = float.fromhex("0x1.921fb544p+0")           # pi/2 truncated to 32 significant bits
D_PIO2_2 = float.fromhex("0x1.0b4611a6p-34")          # (pi/2 - PIO2_1) truncated to 32 significant bits
D_PIO2_3 = float.fromhex("0x1.3198a2e037073p-69")     # f64(pi/2 - PIO2_1 - PIO2_2)
LN_COEF = [float(Fraction(1, 2 * k + 1)) for k in range(13)]        # 1/(2k+1), k = 0..12
EXPD_COEF = [float(Fraction(1, factorial(n))) for n in range(17)]   # 1/n!, n = 0..16
SIN_COEF = [float(Fraction((-1) ** n, factorial(2 * n + 1))) for n in range(12)]  # n = 0..11
COS_COEF = [float(Fraction((-1) ** n, factorial(2 * n))) for n in range(12)]      # n = 0..11


def check_constants() -> None:
    import mpmath
    mpmath.mp.prec = 300

    def f64(x) -> float:
        return float(mpmath.mpf(x))

    def top_bits(x, bits: int) -> float:  # positive x truncated to `bits` significant bits
        e = int(mpmath.floor(mpmath.log(abs(x), 2)))
        scale = mpmath.mpf(2) ** (bits - 1 - e)
        return float(mpmath.floor(x * scale) / scale)

    ln2 = mpmath.log(2)
    pio2 = mpmath.pi / 2
    checks = {
        "EXP_LOG2E": (float(EXP_LOG2E), _f32_round(1 / ln2)),
        "EXP_C2": (float(EXP_C2), _f32_round(ln2 - mpmath.mpf(float(EXP_C1)))),
        "D_LN2": (D_LN2, f64(ln2)),
        "D_INV_LN2": (D_INV_LN2, f64(1 / ln2)),
        "D_LN2_HI": (D_LN2_HI, top_bits(ln2, 32)),
        "D_LN2_LO": (D_LN2_LO, f64(ln2 - mpmath.mpf(D_LN2_HI))),
        "D_SQRT2": (D_SQRT2, f64(mpmath.sqrt(2))),
        "D_TWO_OVER_PI": (D_TWO_OVER_PI, f64(2 / mpmath.pi)),
        "D_PIO2_1": (D_PIO2_1, top_bits(pio2, 32)),
        "D_PIO2_2": (D_PIO2_2, top_bits(pio2 - mpmath.mpf(D_PIO2_1), 32)),
        "D_PIO2_3": (D_PIO2_3, f64(pio2 - mpmath.mpf(D_PIO2_1) - mpmath.mpf(D_PIO2_2))),
    }
    bad = [k for k, (have, want) in checks.items() if have != want]
    for k, (have, want) in checks.items():
        print(f"{k:16s} {float(have).hex():28s} {'ok' if have == want else 'MISMATCH, expected ' + float(want).hex()}")
    # Exactness the algorithms rely on.
    assert float(EXP_C1) * 128 == float(F32(float(EXP_C1) * 128)), "n*C1 must be exact"
    if bad:
        raise SystemExit(f"constant mismatch: {bad}")
    print("constants: all match")


def _f32_round(x) -> float:
    """float32 nearest to an mpmath value (via a correctly rounded f64 first, then checked)."""
    import mpmath
    d = float(x)
    f = np.float32(d)
    # Guard against double rounding: compare both neighbours exactly.
    cands = [np.nextafter(f, F32(-np.inf)), f, np.nextafter(f, F32(np.inf))]
    best = min(cands, key=lambda c: abs(mpmath.mpf(float(c)) - x))
    return float(best)


# ---------------------------------------------------------------------------------------------------------
# Canonical float32 primitives.

def tree8(a: np.ndarray) -> np.ndarray:
    """Fixed reduction of 8 lanes (last axis): ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7))."""
    return ((a[..., 0] + a[..., 1]) + (a[..., 2] + a[..., 3])) + ((a[..., 4] + a[..., 5]) + (a[..., 6] + a[..., 7]))


def pad8(x: np.ndarray) -> np.ndarray:
    """Zero-pads the last axis to a multiple of 8."""
    k = x.shape[-1]
    kp = (k + 7) // 8 * 8
    if kp == k:
        return np.ascontiguousarray(x, dtype=F32)
    out = np.zeros(x.shape[:-1] + (kp,), dtype=F32)
    out[..., :k] = x
    return out


def dot8(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y[t, n] = dot8(x[t, :], w[n, :]): lane j sums the products of k = j mod 8 in increasing k, then tree8."""
    assert x.dtype == F32 and w.dtype == F32 and x.shape[1] == w.shape[1]
    xp, wp = pad8(x), pad8(w)
    t, kp = xp.shape
    n = wp.shape[0]
    xc = xp.reshape(t, kp // 8, 8)
    wc = wp.reshape(n, kp // 8, 8)
    acc = np.zeros((t, n, 8), dtype=F32)
    for c in range(kp // 8):
        acc += xc[:, None, c, :] * wc[None, :, c, :]
    return tree8(acc)


def sum8(e: np.ndarray) -> np.ndarray:
    """Striped sum over the last axis (lane j sums elements j mod 8 in order), then tree8."""
    ep = pad8(e)
    acc = np.zeros(ep.shape[:-1] + (8,), dtype=F32)
    for c in range(ep.shape[-1] // 8):
        acc += ep[..., 8 * c:8 * c + 8]
    return tree8(acc)


def canon_exp(x: np.ndarray) -> np.ndarray:
    """exp for float32: range reduction by ln 2 (Cody-Waite, two constants), degree-7 Taylor in Horner form."""
    x = np.asarray(x, dtype=F32)
    xc = np.clip(x, EXP_LO, EXP_HI)  # only to keep the discarded lanes finite; selected below
    t = xc * EXP_LOG2E
    big = t + EXP_MAGIC
    nbits = big.view(np.int32) - np.array(EXP_MAGIC, dtype=F32).view(np.int32)
    n = big - EXP_MAGIC
    r = (xc - n * EXP_C1) - n * EXP_C2
    p = EXP_P[7]
    for k in range(6, -1, -1):
        p = p * r + EXP_P[k]
    scale = ((nbits + 127).astype(np.int32) << 23).view(F32)
    y = (p * scale).astype(F32)
    y = np.where(x > EXP_HI, F32(np.inf), y)
    y = np.where(x < EXP_LO, F32(0.0), y)
    y = np.where(np.isnan(x), x, y)
    return y.astype(F32)


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: np.float32) -> np.ndarray:
    """ss = dot8(x, x); mean = ss / H; inv = 1 / sqrt(mean + eps); y = (x * inv) * w."""
    h = x.shape[1]
    xp = pad8(x)
    xc = xp.reshape(x.shape[0], -1, 8)
    acc = np.zeros((x.shape[0], 8), dtype=F32)
    for c in range(xc.shape[1]):
        acc += xc[:, c, :] * xc[:, c, :]
    ss = tree8(acc)
    mean = ss / F32(h)
    r = np.sqrt(mean + eps)
    inv = F32(1.0) / r
    return ((x * inv[:, None]) * w[None, :]).astype(F32)


def silu_mul(g: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(g / (1 + exp(-g))) * u."""
    e = canon_exp(-g)
    return ((g / (F32(1.0) + e)) * u).astype(F32)


# ---------------------------------------------------------------------------------------------------------
# Rotary table: float64 with IEEE basic operations only, then rounded to float32.

def _bits64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _from_bits64(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def _round_even(x: float) -> float:
    return (x + D_MAGIC) - D_MAGIC


def ln_f64(x: float) -> float:
    b = _bits64(x)
    e = ((b >> 52) & 0x7FF) - 1023
    m = _from_bits64((b & ((1 << 52) - 1)) | (1023 << 52))
    if m > D_SQRT2:
        m = m / 2.0
        e += 1
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = LN_COEF[12]
    for k in range(11, -1, -1):
        p = p * z + LN_COEF[k]
    return float(e) * D_LN2 + (2.0 * s) * p


def exp_f64(y: float) -> float:
    kf = _round_even(y * D_INV_LN2)
    k = int(kf)
    r = (y - kf * D_LN2_HI) - kf * D_LN2_LO
    p = EXPD_COEF[16]
    for n in range(15, -1, -1):
        p = p * r + EXPD_COEF[n]
    return p * _from_bits64((k + 1023) << 52)


def sincos_f64(a: float) -> tuple[float, float]:
    kf = _round_even(a * D_TWO_OVER_PI)
    r = ((a - kf * D_PIO2_1) - kf * D_PIO2_2) - kf * D_PIO2_3
    z = r * r
    ps = SIN_COEF[11]
    for n in range(10, 0, -1):
        ps = ps * z + SIN_COEF[n]
    s = r + (r * z) * ps
    pc = COS_COEF[11]
    for n in range(10, 0, -1):
        pc = pc * z + COS_COEF[n]
    c = 1.0 + z * pc
    q = int(kf) & 3
    if q == 0:
        return s, c
    if q == 1:
        return c, -s
    if q == 2:
        return -s, -c
    return -c, s


def inv_freqs(theta: float, head_dim: int) -> list[float]:
    lt = ln_f64(theta)
    return [exp_f64(-((float(2 * i) / float(head_dim)) * lt)) for i in range(head_dim // 2)]


def rotary_table(theta: float, head_dim: int, positions) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, float32 [len(positions), head_dim/2]."""
    inv = inv_freqs(theta, head_dim)
    cos = np.zeros((len(positions), head_dim // 2), dtype=F32)
    sin = np.zeros((len(positions), head_dim // 2), dtype=F32)
    for t, p in enumerate(positions):
        for i, f in enumerate(inv):
            s, c = sincos_f64(float(p) * f)
            cos[t, i] = F32(c)
            sin[t, i] = F32(s)
    return cos, sin


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [T, heads, d]; HF rotate-half: (x1*c - x2*s, x2*c + x1*s)."""
    half = x.shape[2] // 2
    x1, x2 = x[:, :, :half], x[:, :, half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=2).astype(F32)


# ---------------------------------------------------------------------------------------------------------
# Model description, weights and the canonical layer.

class Config:
    def __init__(self, hidden, heads, kv_heads, head_dim, inter, eps, theta, bias, layers, arch="llama"):
        self.hidden, self.heads, self.kv_heads, self.head_dim = hidden, heads, kv_heads, head_dim
        self.inter, self.eps, self.theta, self.bias, self.layers, self.arch = inter, eps, theta, bias, layers, arch

    def json(self) -> dict:
        return {
            "architecture": self.arch,
            "hidden_size": self.hidden,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.inter,
            "rms_norm_eps": self.eps,
            "rope_theta": self.theta,
            "attention_bias": self.bias,
            "num_hidden_layers": self.layers,
        }


def layer_names(i: int) -> dict:
    p = f"model.layers.{i}."
    return {
        "in_norm": p + "input_layernorm.weight",
        "q": p + "self_attn.q_proj.weight", "k": p + "self_attn.k_proj.weight",
        "v": p + "self_attn.v_proj.weight", "o": p + "self_attn.o_proj.weight",
        "qb": p + "self_attn.q_proj.bias", "kb": p + "self_attn.k_proj.bias", "vb": p + "self_attn.v_proj.bias",
        "post_norm": p + "post_attention_layernorm.weight",
        "gate": p + "mlp.gate_proj.weight", "up": p + "mlp.up_proj.weight", "down": p + "mlp.down_proj.weight",
    }


def canon_layer(x: np.ndarray, W: dict, i: int, cfg: Config, pos0: int) -> np.ndarray:
    n = layer_names(i)
    T = x.shape[0]
    eps = F32(cfg.eps)
    h = rmsnorm(x, W[n["in_norm"]], eps)
    q = dot8(h, W[n["q"]])
    k = dot8(h, W[n["k"]])
    v = dot8(h, W[n["v"]])
    if cfg.bias:
        q = q + W[n["qb"]][None, :]
        k = k + W[n["kb"]][None, :]
        v = v + W[n["vb"]][None, :]
    d = cfg.head_dim
    cos, sin = rotary_table(cfg.theta, d, [pos0 + t for t in range(T)])
    q = rotate(q.reshape(T, cfg.heads, d), cos, sin)
    k = rotate(k.reshape(T, cfg.kv_heads, d), cos, sin)
    v = v.reshape(T, cfg.kv_heads, d)
    scale = F32(1.0) / np.sqrt(F32(d))
    rep = cfg.heads // cfg.kv_heads
    attn = np.zeros((T, cfg.heads, d), dtype=F32)
    causal = np.tril(np.ones((T, T), dtype=bool))
    for hd in range(cfg.heads):
        g = hd // rep
        s = dot8(q[:, hd, :], k[:, g, :]) * scale            # [T, T]
        s_masked = np.where(causal, s, F32(-np.inf))
        m = np.max(s_masked, axis=1)                          # max is order-independent for finite values
        e = canon_exp(s - m[:, None])
        e = np.where(causal, e, F32(0.0)).astype(F32)
        den = sum8(e)
        p = (e / den[:, None]).astype(F32)
        p = np.where(causal, p, F32(0.0)).astype(F32)
        attn[:, hd, :] = dot8(p, np.ascontiguousarray(v[:, g, :].T))
    a = dot8(attn.reshape(T, cfg.heads * d), W[n["o"]])
    x1 = (x + a).astype(F32)
    h2 = rmsnorm(x1, W[n["post_norm"]], eps)
    gg = dot8(h2, W[n["gate"]])
    uu = dot8(h2, W[n["up"]])
    mm = silu_mul(gg, uu)
    dd = dot8(mm, W[n["down"]])
    return (x1 + dd).astype(F32)


def canon_run(x, W, cfg, l0, l1, final_norm, pos0):
    assert x.dtype == F32
    for i in range(l0, l1):
        x = canon_layer(x, W, i, cfg, pos0)
    if final_norm:
        x = rmsnorm(x, W["model.norm.weight"], F32(cfg.eps))
    return x


# Plain float64 reference (numpy's own matmul, exp, sin, cos): the "right" answer.

def f64_rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps) * w[None, :]


def f64_layer(x, W, i, cfg, pos0):
    n = layer_names(i)
    D = lambda name: W[name].astype(np.float64)
    T = x.shape[0]
    h = f64_rmsnorm(x, D(n["in_norm"]), cfg.eps)
    q, k, v = h @ D(n["q"]).T, h @ D(n["k"]).T, h @ D(n["v"]).T
    if cfg.bias:
        q, k, v = q + D(n["qb"]), k + D(n["kb"]), v + D(n["vb"])
    d = cfg.head_dim
    inv = 1.0 / (cfg.theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    ang = np.arange(pos0, pos0 + T, dtype=np.float64)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rot(z):
        z1, z2 = z[:, :, : d // 2], z[:, :, d // 2:]
        return np.concatenate([z1 * c - z2 * s, z2 * c + z1 * s], axis=2)

    q = rot(q.reshape(T, cfg.heads, d))
    k = rot(k.reshape(T, cfg.kv_heads, d))
    v = v.reshape(T, cfg.kv_heads, d)
    rep = cfg.heads // cfg.kv_heads
    mask = np.tril(np.ones((T, T), dtype=bool))
    out = np.zeros((T, cfg.heads, d))
    for hd in range(cfg.heads):
        g = hd // rep
        sc = (q[:, hd, :] @ k[:, g, :].T) / np.sqrt(d)
        sc = np.where(mask, sc, -np.inf)
        e = np.exp(sc - sc.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        out[:, hd, :] = p @ v[:, g, :]
    x1 = x + out.reshape(T, -1) @ D(n["o"]).T
    h2 = f64_rmsnorm(x1, D(n["post_norm"]), cfg.eps)
    g = h2 @ D(n["gate"]).T
    u = h2 @ D(n["up"]).T
    return x1 + ((g / (1.0 + np.exp(-g))) * u) @ D(n["down"]).T


def f64_run(x, W, cfg, l0, l1, final_norm, pos0):
    x = x.astype(np.float64)
    for i in range(l0, l1):
        x = f64_layer(x, W, i, cfg, pos0)
    if final_norm:
        x = f64_rmsnorm(x, W["model.norm.weight"].astype(np.float64), cfg.eps)
    return x


def rel_error(y: np.ndarray, y64: np.ndarray) -> float:
    return float(np.max(np.abs(y.astype(np.float64) - y64)) / np.max(np.abs(y64)))


# ---------------------------------------------------------------------------------------------------------
# TNS1 and hashing.

TENSOR_TAG = b"sharechain/tensor"


def tns1_encode(x: np.ndarray) -> bytes:
    assert x.dtype == F32 and 1 <= x.ndim <= 8
    head = b"TNS1" + bytes([1, x.ndim]) + b"".join(struct.pack("<Q", d) for d in x.shape)
    return head + np.ascontiguousarray(x).astype("<f4").tobytes()


def tns1_decode(b: bytes) -> np.ndarray:
    assert b[:4] == b"TNS1" and b[4] == 1
    rank = b[5]
    dims = struct.unpack_from("<" + "Q" * rank, b, 6)
    off = 6 + 8 * rank
    n = int(np.prod(dims))
    assert len(b) == off + 4 * n
    return np.frombuffer(b, dtype="<f4", offset=off, count=n).astype(F32).reshape(dims)


def tagged_hash(tag: bytes, data: bytes) -> str:
    t = hashlib.sha256(tag).digest()
    return hashlib.sha256(t + t + data).hexdigest()


def tensor_hash(x: np.ndarray) -> str:
    return tagged_hash(TENSOR_TAG, tns1_encode(x))


# ---------------------------------------------------------------------------------------------------------
# Deterministic generator (SplitMix64 -> uniform): platform- and version-independent, unlike numpy's streams.

class SplitMix64:
    def __init__(self, seed: int):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def uniform(self, shape, scale: float, center: float = 0.0) -> np.ndarray:
        """center + scale * u, u uniform in [-1, 1) with 24-bit resolution; each value exact in float32."""
        n = int(np.prod(shape))
        u = np.array([(self.next() >> 40) for _ in range(n)], dtype=np.float64)
        vals = center + scale * (u / float(1 << 23) - 1.0)
        return vals.astype(F32).reshape(shape)


def make_weights(cfg: Config, seed: int, embed_vocab: int = 0) -> dict:
    """Random weights scaled like a trained model: projections ~ U(-1,1)/sqrt(fan_in), norms ~ 1 +- 0.1."""
    rng = SplitMix64(seed)
    H, d, I = cfg.hidden, cfg.head_dim, cfg.inter
    qd, kvd = cfg.heads * d, cfg.kv_heads * d
    W = {}
    if embed_vocab:
        W["model.embed_tokens.weight"] = rng.uniform((embed_vocab, H), 1.0)
    for i in range(cfg.layers):
        n = layer_names(i)
        W[n["in_norm"]] = rng.uniform((H,), 0.1, 1.0)
        W[n["q"]] = rng.uniform((qd, H), 1.7 / np.sqrt(H))
        W[n["k"]] = rng.uniform((kvd, H), 1.7 / np.sqrt(H))
        W[n["v"]] = rng.uniform((kvd, H), 1.7 / np.sqrt(H))
        if cfg.bias:
            W[n["qb"]] = rng.uniform((qd,), 0.5)
            W[n["kb"]] = rng.uniform((kvd,), 0.5)
            W[n["vb"]] = rng.uniform((kvd,), 0.5)
        W[n["o"]] = rng.uniform((H, qd), 1.7 / np.sqrt(qd))
        W[n["post_norm"]] = rng.uniform((H,), 0.1, 1.0)
        W[n["gate"]] = rng.uniform((I, H), 1.7 / np.sqrt(H))
        W[n["up"]] = rng.uniform((I, H), 1.7 / np.sqrt(H))
        W[n["down"]] = rng.uniform((H, I), 1.7 / np.sqrt(I))
    W["model.norm.weight"] = rng.uniform((H,), 0.1, 1.0)
    return W


# ---------------------------------------------------------------------------------------------------------
# safetensors (writer and a minimal reader).

ST_DTYPES = {"F32": 4, "F16": 2, "BF16": 2}


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (inputs are finite)."""
    b = x.astype(F32).view(np.uint32).astype(np.uint64)
    rounded = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16_bits(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(F32)


def quantize_storage(W: dict, dtype: str) -> dict:
    """Rounds every tensor to what `dtype` can hold (so the float32 the reader returns equals W exactly)."""
    if dtype == "F32":
        return W
    if dtype == "F16":
        return {k: v.astype(np.float16).astype(F32) for k, v in W.items()}
    if dtype == "BF16":
        return {k: from_bf16_bits(to_bf16_bits(v)) for k, v in W.items()}
    raise ValueError(dtype)


def write_safetensors(path: str, W: dict, dtype: str = "F32", metadata: dict | None = None) -> None:
    header = {}
    blobs = []
    off = 0
    for name in sorted(W):
        v = W[name]
        if dtype == "F32":
            raw = v.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = v.astype("<f2").tobytes()
        else:
            raw = to_bf16_bits(v).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path: str) -> dict:
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b, 0)[0]
    header = json.loads(b[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        raw = b[base + s: base + e]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(F32)
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(F32)
        elif info["dtype"] == "BF16":
            a = from_bf16_bits(np.frombuffer(raw, dtype="<u2"))
        else:
            continue
        out[name] = a.reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------------------------------------
# GGUF v3 (writer for the synthetic golden model; reader for SmolLM2).

GGML_F32, GGML_F16, GGML_Q4_1, GGML_Q8_0 = 0, 1, 3, 8


def f16_to_f32(b: np.ndarray) -> np.ndarray:
    return b.view("<f2").astype(F32)


def deq_q8_0(raw: bytes, n: int) -> np.ndarray:
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(n // 32, 34)
    d = f16_to_f32(np.ascontiguousarray(blk[:, :2]).view("<u2"))
    q = np.ascontiguousarray(blk[:, 2:]).view(np.int8).astype(F32)
    return (q * d).reshape(n).astype(F32)


def deq_q4_1(raw: bytes, n: int) -> np.ndarray:
    blk = np.frombuffer(raw, dtype=np.uint8).reshape(n // 32, 20)
    d = f16_to_f32(np.ascontiguousarray(blk[:, 0:2]).view("<u2"))
    m = f16_to_f32(np.ascontiguousarray(blk[:, 2:4]).view("<u2"))
    qs = blk[:, 4:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(F32)   # element j < 16: low nibble of byte j
    return ((q * d) + m).reshape(n).astype(F32)


def quant_q8_0(x: np.ndarray) -> bytes:
    b = x.reshape(-1, 32).astype(np.float64)
    amax = np.max(np.abs(b), axis=1)
    d = (amax / 127.0).astype(np.float16)
    df = d.astype(np.float64)
    q = np.where(df[:, None] > 0, np.round(b / np.where(df > 0, df, 1.0)[:, None]), 0).clip(-127, 127).astype(np.int8)
    out = np.zeros((b.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quant_q4_1(x: np.ndarray) -> bytes:
    b = x.reshape(-1, 32).astype(np.float64)
    lo, hi = b.min(axis=1), b.max(axis=1)
    d = ((hi - lo) / 15.0).astype(np.float16)
    m = lo.astype(np.float16)
    df, mf = d.astype(np.float64), m.astype(np.float64)
    q = np.where(df[:, None] > 0, np.round((b - mf[:, None]) / np.where(df > 0, df, 1.0)[:, None]), 0).clip(0, 15).astype(np.uint8)
    out = np.zeros((b.shape[0], 20), dtype=np.uint8)
    out[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = m.view(np.uint8).reshape(-1, 2)
    out[:, 4:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def llama_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order for q/k: within each head, HF row s*(d/2)+i goes to row 2i+s."""
    rows = w.shape[0]
    d = rows // heads
    out = np.empty_like(w)
    for h in range(heads):
        for s in range(2):
            for i in range(d // 2):
                out[h * d + 2 * i + s] = w[h * d + s * (d // 2) + i]
    return out


def llama_unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    rows = w.shape[0]
    d = rows // heads
    out = np.empty_like(w)
    for h in range(heads):
        for s in range(2):
            for i in range(d // 2):
                out[h * d + s * (d // 2) + i] = w[h * d + 2 * i + s]
    return out


def _gguf_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path: str, cfg: Config, W: dict, types: dict) -> dict:
    """Writes a llama-architecture GGUF v3 file; returns the float32 weights a reader must reconstruct."""
    kv = [
        ("general.architecture", 8, _gguf_str("llama")),
        ("general.alignment", 4, struct.pack("<I", 32)),
        ("llama.block_count", 4, struct.pack("<I", cfg.layers)),
        ("llama.embedding_length", 4, struct.pack("<I", cfg.hidden)),
        ("llama.feed_forward_length", 4, struct.pack("<I", cfg.inter)),
        ("llama.attention.head_count", 4, struct.pack("<I", cfg.heads)),
        ("llama.attention.head_count_kv", 4, struct.pack("<I", cfg.kv_heads)),
        ("llama.rope.freq_base", 6, struct.pack("<f", cfg.theta)),
        ("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", cfg.eps)),
        ("llama.rope.dimension_count", 4, struct.pack("<I", cfg.head_dim)),
    ]
    gg_names = {"in_norm": "attn_norm", "q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
                "post_norm": "ffn_norm", "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
    tensors = []   # (gguf name, data bytes, ne list, type)
    expected = {}
    for i in range(cfg.layers):
        n = layer_names(i)
        for key, g in gg_names.items():
            w = W[n[key]]
            hf = w
            if key == "q":
                w = llama_permute(w, cfg.heads)
            if key == "k":
                w = llama_permute(w, cfg.kv_heads)
            t = types.get(key, GGML_F32) if w.ndim == 2 else GGML_F32
            flat = w.reshape(-1)
            if t == GGML_F32:
                raw, back = flat.astype("<f4").tobytes(), flat
            elif t == GGML_F16:
                raw = flat.astype("<f2").tobytes()
                back = flat.astype(np.float16).astype(F32)
            elif t == GGML_Q8_0:
                raw = quant_q8_0(flat)
                back = deq_q8_0(raw, flat.size)
            else:
                raw = quant_q4_1(flat)
                back = deq_q4_1(raw, flat.size)
            back = back.reshape(w.shape)
            if key == "q":
                back = llama_unpermute(back, cfg.heads)
            if key == "k":
                back = llama_unpermute(back, cfg.kv_heads)
            assert back.shape == hf.shape
            expected[n[key]] = back.astype(F32)
            tensors.append((f"blk.{i}.{g}.weight", raw, list(reversed(w.shape)), t))
    fn = W["model.norm.weight"]
    tensors.append(("output_norm.weight", fn.astype("<f4").tobytes(), [fn.shape[0]], GGML_F32))
    expected["model.norm.weight"] = fn
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        out += _gguf_str(k) + struct.pack("<I", t) + v
    off = 0
    offsets = []
    for name, raw, ne, t in tensors:
        offsets.append(off)
        out += _gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", t, off)
        off += (len(raw) + 31) // 32 * 32
    out += b"\0" * ((32 - len(out) % 32) % 32)
    for (name, raw, ne, t), o in zip(tensors, offsets):
        out += raw + b"\0" * ((32 - len(raw) % 32) % 32)
    with open(path, "wb") as f:
        f.write(out)
    return expected


class GGUF:
    """Minimal GGUF v3 reader (enough for SmolLM2): metadata, tensor infos, dequantization."""

    def __init__(self, path: str):
        self.b = open(path, "rb").read()
        self.o = 0
        assert self.b[:4] == b"GGUF"
        self.o = 4
        ver, nt, nkv = self._u("I"), self._u("Q"), self._u("Q")
        assert ver == 3
        self.meta = {}
        for _ in range(nkv):
            k = self._s()
            self.meta[k] = self._val(self._u("I"))
        self.tensors = {}
        for _ in range(nt):
            name = self._s()
            nd = self._u("I")
            ne = [self._u("Q") for _ in range(nd)]
            t = self._u("I")
            off = self._u("Q")
            self.tensors[name] = (ne, t, off)
        align = self.meta.get("general.alignment", 32)
        self.data = (self.o + align - 1) // align * align

    def _u(self, f):
        v = struct.unpack_from("<" + f, self.b, self.o)[0]
        self.o += struct.calcsize(f)
        return v

    def _s(self):
        n = self._u("Q")
        s = self.b[self.o:self.o + n].decode()
        self.o += n
        return s

    def _val(self, t):
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
        if t in fmt:
            return self._u(fmt[t])
        if t == 8:
            return self._s()
        et, n = self._u("I"), self._u("Q")
        return [self._val(et) for _ in range(n)]

    def tensor(self, name: str) -> np.ndarray:
        ne, t, off = self.tensors[name]
        n = int(np.prod(ne))
        start = self.data + off
        if t == GGML_F32:
            a = np.frombuffer(self.b, dtype="<f4", count=n, offset=start).astype(F32)
        elif t == GGML_F16:
            a = np.frombuffer(self.b, dtype="<f2", count=n, offset=start).astype(F32)
        elif t == GGML_Q8_0:
            a = deq_q8_0(self.b[start:start + n // 32 * 34], n)
        elif t == GGML_Q4_1:
            a = deq_q4_1(self.b[start:start + n // 32 * 20], n)
        else:
            raise ValueError(f"type {t}")
        return a.reshape(list(reversed(ne)))

    def config(self) -> Config:
        m = self.meta
        hidden, heads = m["llama.embedding_length"], m["llama.attention.head_count"]
        return Config(hidden, heads, m["llama.attention.head_count_kv"], hidden // heads,
                      m["llama.feed_forward_length"], float(np.float32(m["llama.attention.layer_norm_rms_epsilon"])),
                      float(m["llama.rope.freq_base"]), False, m["llama.block_count"])

    def layer_weights(self, cfg: Config, layers) -> dict:
        W = {}
        gg = {"in_norm": "attn_norm", "q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
              "post_norm": "ffn_norm", "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
        for i in layers:
            n = layer_names(i)
            for key, g in gg.items():
                w = self.tensor(f"blk.{i}.{g}.weight")
                if key == "q":
                    w = llama_unpermute(w, cfg.heads)
                if key == "k":
                    w = llama_unpermute(w, cfg.kv_heads)
                W[n[key]] = w
        if "output_norm.weight" in self.tensors:
            W["model.norm.weight"] = self.tensor("output_norm.weight")
        return W


# ---------------------------------------------------------------------------------------------------------
# Generators.

def sha256_file(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def f32_hex(x: np.ndarray) -> list[str]:
    return [f"{int(v):08x}" for v in np.asarray(x, dtype=F32).view(np.uint32).reshape(-1)]


GOLDEN_MODELS = {
    # name: (config, storage dtype, seed, format)
    "m1": (Config(20, 4, 2, 6, 36, 1e-6, 10000.0, True, 2, "qwen2"), "F32", 101, "safetensors"),
    "m2": (Config(32, 4, 1, 8, 40, 1e-5, 500000.0, False, 3, "llama"), "BF16", 102, "safetensors"),
    "m3": (Config(17, 2, 2, 10, 23, 1e-6, 1000000.0, True, 1, "qwen2"), "F16", 103, "safetensors"),
    "m4": (Config(32, 4, 2, 8, 64, 1e-5, 10000.0, False, 2, "llama"), "GGUF", 104, "gguf"),
}

GOLDEN_CASES = [
    # (model, l0, l1, final_norm, tokens, position offset)
    ("m1", 0, 2, True, 1, 0),
    ("m1", 0, 2, True, 5, 3),
    ("m1", 1, 2, False, 9, 100000),
    ("m1", 0, 1, False, 33, 0),
    ("m2", 0, 3, False, 8, 0),
    ("m2", 1, 3, True, 16, 4095),
    ("m2", 0, 3, True, 33, 777),
    ("m3", 0, 1, True, 1, 12345),
    ("m3", 0, 1, False, 13, 0),
    ("m3", 0, 1, False, 24, 1048576 - 24),
    ("m4", 0, 2, True, 7, 5),
    ("m4", 0, 2, False, 32, 1000000),
]


def cmd_tns1_vectors() -> None:
    """Specs/vectors/tns1.json: encodings and tensor hashes for other implementations."""
    rng = SplitMix64(42)
    tensors = [
        ("example [1,2]", np.array([[1.0, -2.0]], dtype=F32)),
        ("signed zeros and a subnormal", np.array([0.0, -0.0, 1e-45, -3.4028235e38], dtype=F32)),
        ("rank 3", rng.uniform((2, 3, 4), 10.0)),
        ("activation [3, 5]", rng.uniform((3, 5), 1.7)),
        ("rank 8", np.arange(1, 3, dtype=F32).reshape(2, 1, 1, 1, 1, 1, 1, 1)),
    ]
    out = {"spec": "Specs/tensor-tns1.md", "tag": TENSOR_TAG.decode(),
           "generated_by": "python3 tools/canon_ref.py golden",
           "valid": [{"name": n, "shape": list(t.shape), "values_hex": f32_hex(t), "encoding": tns1_encode(t).hex(),
                      "hash": tensor_hash(t)} for n, t in tensors],
           "invalid": [
               {"name": "bad magic", "encoding": (b"TNS2" + tns1_encode(tensors[0][1])[4:]).hex()},
               {"name": "dtype 2", "encoding": (b"TNS1\x02\x01" + struct.pack("<Q", 1) + b"\0" * 4).hex()},
               {"name": "rank 0", "encoding": b"TNS1\x01\x00".hex()},
               {"name": "rank 9", "encoding": (b"TNS1\x01\x09" + struct.pack("<Q", 1) * 9 + b"\0" * 4).hex()},
               {"name": "zero dimension", "encoding": (b"TNS1\x01\x02" + struct.pack("<QQ", 2, 0)).hex()},
               {"name": "truncated data", "encoding": tns1_encode(tensors[0][1])[:-1].hex()},
               {"name": "trailing byte", "encoding": (tns1_encode(tensors[0][1]) + b"\0").hex()},
               {"name": "element count overflows 64 bits", "encoding": (b"TNS1\x01\x02" + struct.pack("<QQ", 1 << 40, 1 << 40)).hex()},
           ]}
    path = os.path.join(ROOT, "Specs", "vectors", "tns1.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def cmd_golden() -> None:
    cmd_tns1_vectors()
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for f in os.listdir(GOLDEN_DIR):
        os.remove(os.path.join(GOLDEN_DIR, f))
    models, weights = {}, {}
    for name, (cfg, dtype, seed, fmt) in GOLDEN_MODELS.items():
        W = make_weights(cfg, seed)
        if fmt == "gguf":
            path = os.path.join(GOLDEN_DIR, f"{name}.gguf")
            types = {"q": GGML_Q4_1, "k": GGML_Q8_0, "v": GGML_F16, "o": GGML_F32,
                     "gate": GGML_Q4_1, "up": GGML_Q8_0, "down": GGML_Q4_1}
            weights[name] = write_gguf(path, cfg, W, types)
        else:
            path = os.path.join(GOLDEN_DIR, f"{name}.safetensors")
            write_safetensors(path, W, dtype, {"format": "pt"})
            weights[name] = quantize_storage(W, dtype)
            back = read_safetensors(path)
            assert all(np.array_equal(back[k].view(np.uint32), weights[name][k].view(np.uint32)) for k in back)
        models[name] = {"file": os.path.basename(path), "sha256": sha256_file(path), "format": fmt,
                        "storage": dtype, "config": cfg.json()}
    cases = []
    rng = SplitMix64(7)
    for idx, (m, l0, l1, fin, T, p0) in enumerate(GOLDEN_CASES):
        cfg = GOLDEN_MODELS[m][0]
        x = rng.uniform((T, cfg.hidden), 1.7)
        y = canon_run(x, weights[m], cfg, l0, l1, fin, p0)
        y64 = f64_run(x, weights[m], cfg, l0, l1, fin, p0)
        err = rel_error(y, y64)
        assert np.all(np.isfinite(y)), "canonical output not finite"
        assert err <= REL_TOLERANCE, f"case {idx}: relative error {err} vs float64"
        base = f"c{idx:02d}"
        for suffix, arr in ((".in.tns", x), (".out.tns", y), (".ref64.tns", y64.astype(F32))):
            with open(os.path.join(GOLDEN_DIR, base + suffix), "wb") as f:
                f.write(tns1_encode(arr))
        cases.append({"name": base, "model": m, "layer_start": l0, "layer_end": l1, "final_norm": fin,
                      "tokens": T, "position_offset": p0, "input": base + ".in.tns", "output": base + ".out.tns",
                      "ref64": base + ".ref64.tns", "output_hash": tensor_hash(y), "rel_error_f64": err})
        print(f"{base}: {m} layers [{l0},{l1}) final={fin} T={T} pos={p0}  rel err vs f64 {err:.2e}")
    # Primitive vectors: exp over a grid and special values; rotary tables.
    xs = np.concatenate([
        np.linspace(-90, 90, 721, dtype=np.float64).astype(F32),
        np.array([0.0, -0.0, 1e-8, -1e-8, 88.0, 88.00001, -87.0, -87.00001, 0.34657359, -0.34657359,
                  np.inf, -np.inf], dtype=F32),
        SplitMix64(9).uniform((200,), 20.0),
    ]).astype(F32)
    ys = canon_exp(xs)
    ref = np.exp(xs.astype(np.float64))
    fin = (xs <= EXP_HI) & (xs >= EXP_LO)
    max_ulp_rel = float(np.max(np.abs(ys[fin].astype(np.float64) - ref[fin]) / ref[fin]))
    assert max_ulp_rel < 5e-7, max_ulp_rel
    rot = []
    for theta, d, positions in ((10000.0, 64, [0, 1, 2, 17, 4095, 65536, 1048575]),
                                (1000000.0, 10, [0, 3, 999999]), (100000.0, 64, [0, 5, 8191])):
        cos, sin = rotary_table(theta, d, positions)
        inv64 = 1.0 / (theta ** (np.arange(0, d, 2) / d))
        ang = np.array(positions, dtype=np.float64)[:, None] * inv64[None, :]
        assert np.max(np.abs(cos - np.cos(ang))) < 1e-6 and np.max(np.abs(sin - np.sin(ang))) < 1e-6
        rot.append({"theta": theta, "head_dim": d, "positions": positions,
                    "inv_freq_hex": [float(f).hex() for f in inv_freqs(theta, d)],
                    "cos": f32_hex(cos), "sin": f32_hex(sin)})
    manifest = {
        "spec": "canon-f32-v1",
        "generated_by": "python3 tools/canon_ref.py golden",
        "tolerance_rel_f64": REL_TOLERANCE,
        "metric": "max|y - y64| / max|y64|",
        "models": models,
        "cases": cases,
        "exp": {"x": f32_hex(xs), "y": f32_hex(ys), "max_rel_error_vs_f64": max_ulp_rel},
        "rotary": rot,
    }
    with open(os.path.join(GOLDEN_DIR, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(GOLDEN_DIR, f)) for f in os.listdir(GOLDEN_DIR))
    print(f"golden: {len(cases)} cases, {total} bytes in {os.path.relpath(GOLDEN_DIR, ROOT)}")


TINY_CONFIG = Config(64, 4, 2, 16, 128, 1e-6, 10000.0, True, 4, "qwen2")
TINY_SEED = 20250101
TINY_VOCAB = 256


def cmd_tiny() -> None:
    os.makedirs(TINY_DIR, exist_ok=True)
    W = make_weights(TINY_CONFIG, TINY_SEED, embed_vocab=TINY_VOCAB)
    path = os.path.join(TINY_DIR, "model.safetensors")
    write_safetensors(path, W, "F32", {"format": "pt", "sharechain": "tiny devnet test model, seed %d" % TINY_SEED})
    sha = sha256_file(path)
    desc = {"name": "sharechain-tiny", "executor": "canon-f32-v1", "seed": TINY_SEED, "vocab_size": TINY_VOCAB,
            "config": TINY_CONFIG.json(), "weights": {"file": "model.safetensors", "format": "safetensors",
                                                      "sha256": sha}}
    with open(os.path.join(TINY_DIR, "model.json"), "w") as f:
        json.dump(desc, f, indent=2, sort_keys=True)
        f.write("\n")
    # A reference pass, recorded so other components can check their wiring end to end.
    x = SplitMix64(1).uniform((4, TINY_CONFIG.hidden), 1.0)
    y = canon_run(x, W, TINY_CONFIG, 0, TINY_CONFIG.layers, True, 0)
    err = rel_error(y, f64_run(x, W, TINY_CONFIG, 0, TINY_CONFIG.layers, True, 0))
    assert err <= REL_TOLERANCE
    with open(os.path.join(TINY_DIR, "example.in.tns"), "wb") as f:
        f.write(tns1_encode(x))
    with open(os.path.join(TINY_DIR, "example.out.tns"), "wb") as f:
        f.write(tns1_encode(y))
    c = TINY_CONFIG
    readme = f"""# Tiny devnet test model

Generated by `python3 tools/canon_ref.py tiny` (deterministic: SplitMix64 seed {TINY_SEED}, uniform weights,
no dependence on numpy's random streams). Not a trained model: random weights scaled like one, so the
devnet's workers and verifier replay real `canon-f32-v1` passes at negligible cost.

| field | value |
|---|---|
| file | `model.safetensors` ({os.path.getsize(path)} bytes, F32) |
| SHA-256 | `{sha}` |
| architecture | {c.arch} (Llama/Qwen2 decoder layers, q/k/v bias) |
| hidden size | {c.hidden} |
| attention heads / kv heads / head dim | {c.heads} / {c.kv_heads} / {c.head_dim} |
| intermediate size | {c.inter} |
| layers | {c.layers} |
| rms eps / rope theta | {c.eps} / {c.theta} |
| embeddings | `model.embed_tokens.weight` [{TINY_VOCAB}, {c.hidden}] (not used by the executor) |

`model.json` is the model description (`ModelConfig` fields plus the pinned weight file).
`example.in.tns` / `example.out.tns`: one reference pass, layers [0, {c.layers}) plus the final norm, 4 tokens at
position 0; output hash (tagged `sharechain/tensor` hash of the TNS1 encoding):
`{tensor_hash(y)}`.
"""
    with open(os.path.join(TINY_DIR, "README.md"), "w") as f:
        f.write(readme)
    print(f"tiny: {path} {os.path.getsize(path)} bytes sha256 {sha}")
    print(f"tiny: example pass layers [0,{TINY_CONFIG.layers}) + final norm, 4 tokens at position 0: "
          f"output hash {tensor_hash(y)}  (rel err vs f64 {err:.1e})")
    return sha, tensor_hash(y), os.path.getsize(path)


SMOL_TOKENS = [1, 9690, 314, 2821, 28]   # arbitrary token ids; the input is their (Q8_0) embedding rows
SMOL_LAYERS = (0, 4)
SMOL_POS = 3


def cmd_smollm2() -> None:
    if not os.path.exists(SMOL_GGUF):
        raise SystemExit("SmolLM2 GGUF missing: run tools/fetch-models first")
    g = GGUF(SMOL_GGUF)
    cfg = g.config()
    emb = g.tensor("token_embd.weight")
    x = np.ascontiguousarray(emb[SMOL_TOKENS]).astype(F32)
    W = g.layer_weights(cfg, range(*SMOL_LAYERS))
    y = canon_run(x, W, cfg, SMOL_LAYERS[0], SMOL_LAYERS[1], False, SMOL_POS)
    y64 = f64_run(x, W, cfg, SMOL_LAYERS[0], SMOL_LAYERS[1], False, SMOL_POS)
    err = rel_error(y, y64)
    assert err <= REL_TOLERANCE, err
    os.makedirs(SMOL_DIR, exist_ok=True)
    for name, arr in (("input.tns", x), ("canon.tns", y), ("ref64.tns", y64.astype(F32))):
        with open(os.path.join(SMOL_DIR, name), "wb") as f:
            f.write(tns1_encode(arr))
    meta = {"gguf_sha256": sha256_file(SMOL_GGUF), "tokens": SMOL_TOKENS, "layer_start": SMOL_LAYERS[0],
            "layer_end": SMOL_LAYERS[1], "final_norm": False, "position_offset": SMOL_POS,
            "config": cfg.json(), "canon_output_hash": tensor_hash(y), "rel_error_f64": err,
            "generated_by": "python3 tools/canon_ref.py smollm2"}
    with open(os.path.join(SMOL_DIR, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"smollm2: layers {SMOL_LAYERS} on {len(SMOL_TOKENS)} tokens, rel err vs f64 {err:.2e}, "
          f"hash {tensor_hash(y)}")


def main(argv) -> None:
    cmd = argv[1] if len(argv) > 1 else "help"
    if cmd == "golden":
        cmd_golden()
    elif cmd == "tiny":
        cmd_tiny()
    elif cmd == "smollm2":
        cmd_smollm2()
    elif cmd == "constants":
        check_constants()
    elif cmd == "all":
        check_constants()
        cmd_golden()
        cmd_tiny()
        cmd_smollm2()
    else:
        print(__doc__)
        sys.exit(0 if cmd in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main(sys.argv)
