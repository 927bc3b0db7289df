"""Adversarial (finite but extreme) inputs through tools/canon_ref.py on the tiny devnet model.

Prints, per case, the output tensor hash or "invalid_output" (NaN/inf in y). The Swift test
`ExecutorAttackReviewTests.adversarialInputsMatchReference` builds the same inputs from the same SplitMix64
stream and must reach the same verdicts bit for bit.

    python3 tools/canon_adversarial.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import canon_ref as R  # noqa: E402

F32 = np.float32


def bits_for(kind: str, r: int) -> int:
    sign = (r >> 63) << 31
    mant = r & 0x7FFFFF
    if kind == "huge":          # |x| in [2^100, 2^128): squares overflow
        return sign | ((227 + (r >> 23) % 28) << 23) | mant
    if kind == "large":         # |x| in [2^60, 2^66): squares finite, sums of squares overflow
        return sign | ((187 + (r >> 23) % 6) << 23) | mant
    if kind == "subnormal":     # exponent field 0
        return sign | mant
    if kind == "zeros":         # +0 and -0
        return sign
    if kind == "max":           # ±FLT_MAX and neighbours
        return sign | 0x7F7FFFFF - (r >> 23) % 4
    if kind == "mixed":
        sub = ["huge", "large", "subnormal", "zeros", "max", "normal"][(r >> 32) % 6]
        return bits_for(sub, r)
    if kind == "normal":        # |x| in [2^-3, 2^1)
        return sign | ((124 + (r >> 23) % 4) << 23) | mant
    raise ValueError(kind)


CASES = [  # name, kind, tokens, position offset, seed
    ("huge", "huge", 3, 0, 11),
    ("large", "large", 4, 7, 12),
    ("subnormal", "subnormal", 3, 0, 13),
    ("zeros", "zeros", 2, 5, 14),
    ("max", "max", 3, 0, 15),
    ("mixed", "mixed", 9, (1 << 20) - 9, 16),
    ("normal-lastpos", "normal", 5, (1 << 20) - 5, 17),
]


def make_input(kind, tokens, seed, hidden):
    g = R.SplitMix64(seed)
    bits = np.array([bits_for(kind, g.next()) for _ in range(tokens * hidden)], dtype=np.uint32)
    return bits.view(F32).reshape(tokens, hidden)


def main():
    W = R.read_safetensors(os.path.join(R.TINY_DIR, "model.safetensors"))
    cfg = R.TINY_CONFIG
    with np.errstate(all="ignore"):
        for name, kind, T, pos, seed in CASES:
            x = make_input(kind, T, seed, cfg.hidden)
            assert np.isfinite(x).all()
            y = R.canon_run(x, W, cfg, 0, cfg.layers, True, pos)
            verdict = R.tensor_hash(y) if np.isfinite(y).all() else "invalid_output"
            print(f'("{name}", "{verdict}"),')


if __name__ == "__main__":
    main()
