#!/usr/bin/env python3
"""Independent reference for sealed spot-check inputs (Specs/sealing.md), written from the spec on the PyPI
`cryptography` package (X25519, HKDF-SHA256, ChaCha20-Poly1305). Shares no code with Sources/Sealing.

    tools/sealing_ref.py            (re)write Specs/vectors/sealing/*.json
    tools/sealing_ref.py --check    check that the committed vectors are exactly what this script writes,
                                    and that this script's own opener and decoder accept/reject them

Needs `cryptography` (>= 3.0; tested with 48.0.0). If `python3 -c "import cryptography"` fails:

    python3 -m venv /tmp/sealing-venv && /tmp/sealing-venv/bin/pip install cryptography
    /tmp/sealing-venv/bin/python tools/sealing_ref.py --check

(or `python3 -m pip install --user cryptography`). The Swift tests (Tests/SealingTests) read only the committed
JSON files; they never run this script.
"""
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "Specs", "vectors", "sealing")

VERSION = 1
MAX_RECIPIENTS = 16
DEFAULT_MAX_PLAINTEXT = 4 * 1024 * 1024
TAG = 16
SLOT = 32 + 32 + TAG
LABEL = b"sharechain/sealed-input/v1"
CONTENT_INFO = b"sharechain/sealed-input/v1/content"
ZERO_NONCE = bytes(12)


# --- primitives (spec section 5) -------------------------------------------------------------------------

def x25519_pub(priv: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519(priv: bytes, peer: bytes):
    """The shared secret, or None when it is all zero (cryptography raises ValueError for it)."""
    try:
        out = X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        return None
    return None if out == bytes(32) else out


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    # RFC 5869: an empty salt and salt=None both mean HashLen zero bytes as the HMAC key.
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def context_bytes(chain_id: bytes, ticket_id: bytes, input_hash: bytes) -> bytes:
    assert len(chain_id) == len(ticket_id) == len(input_hash) == 32
    return LABEL + chain_id + ticket_id + input_hash


def content_keys(secret: bytes):
    okm = hkdf(secret, b"", CONTENT_INFO, 64)
    return okm[:32], okm[32:]


def kek(priv: bytes, peer: bytes, eph_pub: bytes, recipient: bytes, ctx: bytes):
    shared = x25519(priv, peer)
    if shared is None:
        return None, None
    return shared, hkdf(shared, eph_pub + recipient, ctx, 32)


def header(eph_pub: bytes, commitment: bytes, slots) -> bytes:
    out = bytes([VERSION]) + eph_pub + commitment + leb128(len(slots))
    for recipient, wrapped in slots:
        out += recipient + wrapped
    return out


def encoded_size(plaintext_count: int, k: int) -> int:
    p = plaintext_count + TAG
    return 1 + 32 + 32 + len(leb128(k)) + k * SLOT + len(leb128(p)) + p


# --- seal and open (spec sections 5 and 6) -----------------------------------------------------------------

def seal(plaintext: bytes, recipients, ctx: bytes, eph_priv: bytes, secret: bytes):
    assert 1 <= len(recipients) <= MAX_RECIPIENTS and len(set(recipients)) == len(recipients)
    eph_pub = x25519_pub(eph_priv)
    payload_key, commitment = content_keys(secret)
    slots, trace = [], []
    for r in recipients:
        shared, k = kek(eph_priv, r, eph_pub, r, ctx)
        assert k is not None, "weak recipient key"
        wrapped = ChaCha20Poly1305(k).encrypt(ZERO_NONCE, secret, ctx)
        slots.append((r, wrapped))
        trace.append({"sharedSecret": shared.hex(), "keyEncryptionKey": k.hex(), "wrappedKey": wrapped.hex()})
    h = header(eph_pub, commitment, slots)
    payload = ChaCha20Poly1305(payload_key).encrypt(ZERO_NONCE, plaintext, ctx + h)
    envelope = h + leb128(len(payload)) + payload
    return envelope, {"ephemeralPublicKey": eph_pub.hex(), "payloadKey": payload_key.hex(),
                      "keyCommitment": commitment.hex(), "recipients": trace}


class DecodeError(Exception):
    pass


def read_leb(buf: bytes, at: int):
    value, shift, n = 0, 0, 0
    while True:
        if at >= len(buf):
            raise DecodeError("truncated")
        b = buf[at]
        at += 1
        n += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if n > 1 and b == 0:
                raise DecodeError("nonMinimalLength")
            break
        shift += 7
        if n == 5:
            raise DecodeError("lengthOverflow")
    if value > 2**32 - 1:
        raise DecodeError("lengthOverflow")
    return value, at


def decode(buf: bytes, max_plaintext: int = DEFAULT_MAX_PLAINTEXT):
    """Strict decoder; raises DecodeError with the spec's error name (section 4.2)."""
    def take(at, n):
        if len(buf) - at < n:
            raise DecodeError("truncated")
        return buf[at:at + n], at + n

    v, at = take(0, 1)
    if v[0] != VERSION:
        raise DecodeError("unsupportedVersion")
    eph_pub, at = take(at, 32)
    commitment, at = take(at, 32)
    k, at = read_leb(buf, at)
    if not 1 <= k <= MAX_RECIPIENTS:
        raise DecodeError("recipientCount")
    slots = []
    for _ in range(k):
        r, at = take(at, 32)
        w, at = take(at, 32 + TAG)
        slots.append((r, w))
    if len({r for r, _ in slots}) != k:
        raise DecodeError("duplicateRecipient")
    p, at = read_leb(buf, at)
    if p < TAG:
        raise DecodeError("payloadTooShort")
    if p - TAG > max_plaintext:
        raise DecodeError("plaintextTooLarge")
    payload, at = take(at, p)
    if at != len(buf):
        raise DecodeError("trailingBytes")
    return eph_pub, commitment, slots, payload


def open_envelope(buf: bytes, index: int, priv: bytes, ctx: bytes) -> bytes:
    eph_pub, commitment, slots, payload = decode(buf)
    recipient, wrapped = slots[index]
    assert x25519_pub(priv) == recipient, "key mismatch"
    _, k = kek(priv, eph_pub, eph_pub, recipient, ctx)
    assert k is not None, "key agreement failed"
    secret = ChaCha20Poly1305(k).decrypt(ZERO_NONCE, wrapped, ctx)
    payload_key, c = content_keys(secret)
    assert c == commitment, "key commitment mismatch"
    return ChaCha20Poly1305(payload_key).decrypt(ZERO_NONCE, payload, ctx + header(eph_pub, commitment, slots))


# --- vectors ------------------------------------------------------------------------------------------------

def fixed(label: str) -> bytes:
    return hashlib.sha256(b"sharechain/sealing-vector/" + label.encode()).digest()


def plaintext_bytes(n: int) -> bytes:
    return bytes((i * 131 + 7) & 0xFF for i in range(n))


CASES = [
    # name, recipients, plaintext bytes, description
    ("k1-empty", 1, 0, "one recipient, empty plaintext"),
    ("k3-small", 3, 100, "three recipients (the usual k), 100-byte plaintext"),
    ("k3-row", 3, 576 * 4, "three recipients, one 576-wide float32 row (two-byte payload length prefix)"),
    ("k16-max", 16, 200, "the maximum of sixteen recipients"),
]


def make_vector(name, k, n, description):
    privs = [fixed(f"recipient/{i}") for i in range(k)]
    pubs = [x25519_pub(p) for p in privs]
    eph_priv, secret = fixed(f"{name}/ephemeral"), fixed(f"{name}/content-secret")
    chain_id, ticket_id, input_hash = fixed("chain-id"), fixed(f"{name}/ticket-id"), fixed(f"{name}/input-hash")
    ctx = context_bytes(chain_id, ticket_id, input_hash)
    pt = plaintext_bytes(n)
    envelope, trace = seal(pt, pubs, ctx, eph_priv, secret)
    assert len(envelope) == encoded_size(n, k)
    for i, p in enumerate(privs):
        assert open_envelope(envelope, i, p, ctx) == pt
    return {
        "name": name,
        "description": description,
        "recipientPrivateKeys": [p.hex() for p in privs],
        "recipientPublicKeys": [p.hex() for p in pubs],
        "ephemeralPrivateKey": eph_priv.hex(),
        "contentSecret": secret.hex(),
        "context": {"chainId": chain_id.hex(), "ticketId": ticket_id.hex(), "inputHash": input_hash.hex()},
        "contextBytes": ctx.hex(),
        "plaintext": pt.hex(),
        "intermediate": trace,
        "encodedSize": len(envelope),
        "envelope": envelope.hex(),
    }


def invalid_vectors(valid):
    """Byte strings every decoder must reject, each with the error name of spec section 4.2."""
    base = bytes.fromhex(valid["envelope"])  # k3-small
    slots_at = 1 + 64
    payload_len_at = slots_at + 1 + 3 * SLOT
    dup = bytearray(base)
    dup[slots_at + 1 + SLOT:slots_at + 1 + SLOT + 32] = base[slots_at + 1:slots_at + 1 + 32]
    nonminimal = base[:slots_at] + b"\x83\x00" + base[slots_at + 1:]
    # Claims a payload of 4 MiB + 17 bytes: a plaintext one byte over the maximum, rejected before reading it.
    over_max = base[:payload_len_at] + leb128(DEFAULT_MAX_PLAINTEXT + TAG + 1) + base[payload_len_at + 1:]
    cases = [
        ("empty", b"", "truncated"),
        ("version-0", b"\x00" + base[1:], "unsupportedVersion"),
        ("version-2", b"\x02" + base[1:], "unsupportedVersion"),
        ("recipient-count-0", base[:slots_at] + b"\x00" + base[slots_at + 1:], "recipientCount"),
        ("recipient-count-17", base[:slots_at] + b"\x11" + base[slots_at + 1:], "recipientCount"),
        ("recipient-count-nonminimal", nonminimal, "nonMinimalLength"),
        ("recipient-count-overflow", base[:slots_at] + b"\xff\xff\xff\xff\xff\x01", "lengthOverflow"),
        ("duplicate-recipient", bytes(dup), "duplicateRecipient"),
        ("payload-shorter-than-tag", base[:payload_len_at] + b"\x0f" + bytes(15), "payloadTooShort"),
        ("plaintext-over-maximum", over_max, "plaintextTooLarge"),
        ("truncated-last-byte", base[:-1], "truncated"),
        ("trailing-byte", base + b"\x00", "trailingBytes"),
    ]
    out = []
    for name, data, err in cases:
        try:
            decode(data)
            raise AssertionError(f"{name}: decoded")
        except DecodeError as e:
            assert str(e) == err, f"{name}: {e} != {err}"
        out.append({"name": name, "envelope": data.hex(), "error": err})
    return {"description": "encodings every decoder must reject (Specs/sealing.md section 4.2), with the "
                           "default maximum plaintext of 4 MiB; derived from k3-small.json", "cases": out}


def render():
    files = {}
    vectors = {c[0]: make_vector(*c) for c in CASES}
    for name, v in vectors.items():
        files[f"{name}.json"] = v
    files["invalid.json"] = invalid_vectors(vectors["k3-small"])
    return {n: json.dumps(v, indent=2) + "\n" for n, v in files.items()}


def main():
    check = "--check" in sys.argv[1:]
    files = render()
    if check:
        bad = 0
        for name, text in files.items():
            path = os.path.join(OUT_DIR, name)
            if not os.path.exists(path) or open(path).read() != text:
                print(f"differs: {path}")
                bad += 1
        extra = set(os.listdir(OUT_DIR)) - set(files) if os.path.isdir(OUT_DIR) else set()
        for name in sorted(extra):
            print(f"not written by this script: {os.path.join(OUT_DIR, name)}")
            bad += 1
        print("ok" if bad == 0 else f"{bad} problem(s)")
        sys.exit(1 if bad else 0)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(OUT_DIR, name), "w") as f:
            f.write(text)
        print(f"wrote {os.path.join(OUT_DIR, name)}")


if __name__ == "__main__":
    main()
