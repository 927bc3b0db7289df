#!/usr/bin/env python3
"""Independent reference for the sharechain P2P transport: Noise_XX_25519_ChaChaPoly_SHA256 (Noise spec rev 34)
written from the specification on the `cryptography` package (X25519, ChaCha20-Poly1305, HMAC-SHA256), with
sharechain's prologue, payload layout and record rekeying (Specs/p2p.md section 2).

    tools/noise_ref.py            check the published vectors, then (re)write Specs/vectors/noise.json
    tools/noise_ref.py --check    check the published vectors and that noise.json is what this script writes

The Swift implementation (Sources/P2P/Noise) is tested byte for byte against both files
(Tests/P2PTests/NoiseTests.swift). Shares no code with it.
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLISHED = os.path.join(ROOT, "Specs", "vectors", "noise-published.json")
OUT = os.path.join(ROOT, "Specs", "vectors", "noise.json")
NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
MAX_NONCE = 2**64 - 1


def pub(priv: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dh(priv: bytes, peer: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(peer))


def hkdf(ck: bytes, ikm: bytes, n: int):
    temp = hmac.new(ck, ikm, hashlib.sha256).digest()
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(temp, prev + bytes([i]), hashlib.sha256).digest()
        out.append(prev)
    return out


class CipherState:
    def __init__(self, k=None):
        self.k, self.n = k, 0

    def _nonce(self, n):
        return b"\x00" * 4 + struct.pack("<Q", n)

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        assert self.n < MAX_NONCE, "nonce exhausted"
        c = ChaCha20Poly1305(self.k).encrypt(self._nonce(self.n), pt, ad)
        self.n += 1
        return c

    def decrypt(self, ad, ct):
        if self.k is None:
            return ct
        assert self.n < MAX_NONCE, "nonce exhausted"
        p = ChaCha20Poly1305(self.k).decrypt(self._nonce(self.n), ct, ad)
        self.n += 1
        return p

    def rekey(self):
        self.k = ChaCha20Poly1305(self.k).encrypt(self._nonce(MAX_NONCE), b"\x00" * 32, b"")[:32]


class Symmetric:
    def __init__(self):
        self.h = NAME if len(NAME) == 32 else hashlib.sha256(NAME).digest()
        assert len(self.h) == 32
        self.ck = self.h
        self.c = CipherState()

    def mix_hash(self, d):
        self.h = hashlib.sha256(self.h + d).digest()

    def mix_key(self, ikm):
        self.ck, k = hkdf(self.ck, ikm, 2)
        self.c = CipherState(k)

    def enc(self, pt):
        c = self.c.encrypt(self.h, pt)
        self.mix_hash(c)
        return c

    def dec(self, ct):
        p = self.c.decrypt(self.h, ct)
        self.mix_hash(ct)
        return p


PATTERN = [["e"], ["e", "ee", "s", "es"], ["s", "se"]]


class Handshake:
    def __init__(self, initiator, s, e, prologue):
        self.init, self.s, self.e = initiator, s, e
        self.rs = self.re = None
        self.sym = Symmetric()
        self.sym.mix_hash(prologue)
        self.i = 0

    def _dh(self, tok):
        i = self.init
        if tok == "ee":
            return dh(self.e, self.re)
        if tok == "es":
            return dh(self.e, self.rs) if i else dh(self.s, self.re)
        if tok == "se":
            return dh(self.s, self.re) if i else dh(self.e, self.rs)
        raise ValueError(tok)

    def write(self, payload):
        assert (self.i % 2 == 0) == self.init
        out = b""
        for t in PATTERN[self.i]:
            if t == "e":
                out += pub(self.e)
                self.sym.mix_hash(pub(self.e))
            elif t == "s":
                out += self.sym.enc(pub(self.s))
            else:
                self.sym.mix_key(self._dh(t))
        out += self.sym.enc(payload)
        self.i += 1
        return out

    def read(self, msg):
        assert (self.i % 2 == 0) != self.init
        at = 0
        for t in PATTERN[self.i]:
            if t == "e":
                self.re = msg[at:at + 32]
                at += 32
                self.sym.mix_hash(self.re)
            elif t == "s":
                n = 48 if self.sym.c.k is not None else 32
                self.rs = self.sym.dec(msg[at:at + n])
                at += n
            else:
                self.sym.mix_key(self._dh(t))
        p = self.sym.dec(msg[at:])
        self.i += 1
        return p

    def split(self):
        k1, k2 = hkdf(self.sym.ck, b"", 2)
        c1, c2 = CipherState(k1), CipherState(k2)
        return (c1, c2) if self.init else (c2, c1)


class Transport:
    """One direction: a cipher that rekeys after every `interval` records (Specs/p2p.md)."""

    def __init__(self, c, interval):
        self.c, self.interval = c, interval

    def seal(self, pt):
        assert len(pt) <= 65535 - 16
        ct = self.c.encrypt(b"", pt)
        if self.c.n % self.interval == 0:
            self.c.rekey()
        return ct

    def open(self, ct):
        pt = self.c.decrypt(b"", ct)
        if self.c.n % self.interval == 0:
            self.c.rekey()
        return pt


def check_published():
    data = json.load(open(PUBLISHED))
    for v in data["vectors"]:
        h = lambda k: bytes.fromhex(v[k])
        i = Handshake(True, h("init_static"), h("init_ephemeral"), h("init_prologue"))
        r = Handshake(False, h("resp_static"), h("resp_ephemeral"), h("resp_prologue"))
        ci = cr = None
        for n, m in enumerate(v["messages"]):
            sender_is_init = n % 2 == 0
            pl, ct = bytes.fromhex(m["payload"]), bytes.fromhex(m["ciphertext"])
            if n < 3:
                a, b = (i, r) if sender_is_init else (r, i)
                got = a.write(pl)
                assert got == ct, f"{v['source']} message {n}: {got.hex()} != {ct.hex()}"
                assert b.read(got) == pl
                if n == 2:
                    if "handshake_hash" in v:
                        assert i.sym.h.hex() == v["handshake_hash"] == r.sym.h.hex()
                    ci, cr = i.split(), r.split()
            else:
                a, b = (ci, cr) if sender_is_init else (cr, ci)
                got = a[0].encrypt(b"", pl)
                assert got == ct, f"{v['source']} transport message {n}"
                assert b[1].decrypt(b"", got) == pl
    return len(data["vectors"])


def det(label, n=32):
    """Deterministic test bytes: SHA-256 of a label, repeated."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def generate():
    chain_id = det("chain-id")
    version = 3
    prologue = chain_id + struct.pack("<I", version)
    hello = struct.pack("<I", version) + chain_id
    vectors = []
    for name, interval, records in (
        ("sharechain prologue and payloads, rekey every 3 records", 3,
         [("initiator", b""), ("initiator", det("r1", 100)), ("responder", det("r2", 1)), ("initiator", det("r3", 4096)),
          ("initiator", det("r4", 7)), ("responder", det("r5", 300)), ("responder", det("r6", 5)),
          ("responder", det("r7", 64)), ("initiator", det("r8", 33)), ("initiator", det("r9", 2))]),
        ("sharechain prologue and payloads, protocol rekey interval (65536)", 65536,
         [("initiator", det("t1", 40)), ("responder", det("t2", 41)), ("responder", b""), ("initiator", det("t3", 4096))]),
    ):
        keys = {k: det(f"{name}/{k}") for k in ("init_static", "init_ephemeral", "resp_static", "resp_ephemeral")}
        # The identity payloads are opaque here (their signatures are tested in Swift): fixed 96-byte strings.
        payloads = [hello, det(f"{name}/resp-identity", 96), det(f"{name}/init-identity", 96)]
        i = Handshake(True, keys["init_static"], keys["init_ephemeral"], prologue)
        r = Handshake(False, keys["resp_static"], keys["resp_ephemeral"], prologue)
        hs = []
        for n, pl in enumerate(payloads):
            a, b = (i, r) if n % 2 == 0 else (r, i)
            ct = a.write(pl)
            assert b.read(ct) == pl
            hs.append({"payload": pl.hex(), "ciphertext": ct.hex()})
        assert i.sym.h == r.sym.h
        (is_, ir), (rs_, rr) = i.split(), r.split()
        ti = (Transport(is_, interval), Transport(ir, interval))
        tr = (Transport(rs_, interval), Transport(rr, interval))
        recs = []
        for sender, pl in records:
            a, b = (ti, tr) if sender == "initiator" else (tr, ti)
            ct = a[0].seal(pl)
            assert b[1].open(ct) == pl
            recs.append({"sender": sender, "payload": pl.hex(), "ciphertext": ct.hex()})
        vectors.append({"name": name, "protocol_name": NAME.decode(), "prologue": prologue.hex(),
                        **{k: v.hex() for k, v in keys.items()},
                        "init_static_public": pub(keys["init_static"]).hex(), "resp_static_public": pub(keys["resp_static"]).hex(),
                        "rekey_interval": interval, "handshake": hs, "handshake_hash": i.sym.h.hex(), "transport": recs})
    return {
        "description": "Noise_XX_25519_ChaChaPoly_SHA256 as sharechain uses it (Specs/p2p.md section 2): prologue "
                       "chainId || version u32 LE, a 36-byte clear first payload, 96-byte identity payloads, transport "
                       "records with empty associated data and a rekey (Noise Rekey()) after every rekey_interval "
                       "records per direction. Generated by tools/noise_ref.py on the Python `cryptography` package; "
                       "records are listed in send order, each direction keeping its own nonce.",
        "vectors": vectors,
    }


def main():
    n = check_published()
    print(f"published vectors: {n} ok")
    doc = json.dumps(generate(), indent=1) + "\n"
    if "--check" in sys.argv:
        if open(OUT).read() != doc:
            sys.exit("Specs/vectors/noise.json differs from what tools/noise_ref.py generates")
        print("noise.json up to date")
    else:
        open(OUT, "w").write(doc)
        print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
