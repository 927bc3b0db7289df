#!/usr/bin/env python3
"""Independent reference for the state tree (Specs/state-tree.md), from the spec text alone.

Plain Python and hashlib: no 16-ary nodes, no versions, no storage. The root and the proofs are computed
straight from the binary definition (spec section 2), which the Swift Jellyfish tree must match byte for
byte. Usage:

    tools/jmt_ref.py generate        write Specs/vectors/state-tree.json
    tools/jmt_ref.py check           re-derive every vector in the file and verify every proof in it
"""
import hashlib
import json
import os
import sys

PLACEHOLDER = bytes(32)
MAX_SIBLINGS = 256


def sha256(b):
    return hashlib.sha256(b).digest()


def tagged(tag, msg):
    t = sha256(tag.encode())
    return sha256(t + t + msg)


def leaf_hash(key_hash, value_hash):
    return tagged("sharechain/jmt-leaf", key_hash + value_hash)


def internal_hash(left, right):
    return tagged("sharechain/jmt-internal", left + right)


def bit(h, i):
    return (h[i // 8] >> (7 - i % 8)) & 1


def subtree_root(leaves, depth):
    """leaves: list of (key_hash, value_hash) sorted by key_hash, all sharing their first `depth` bits."""
    if not leaves:
        return PLACEHOLDER
    if len(leaves) == 1:
        return leaf_hash(*leaves[0])
    left = [l for l in leaves if bit(l[0], depth) == 0]
    right = [l for l in leaves if bit(l[0], depth) == 1]
    return internal_hash(subtree_root(left, depth + 1), subtree_root(right, depth + 1))


def hashed_set(kv):
    """raw key -> raw value  ==>  sorted list of (SHA-256(key), SHA-256(value))."""
    return sorted((sha256(k), sha256(v)) for k, v in kv.items())


def root(kv):
    return subtree_root(hashed_set(kv), 0)


def make_proof(kv, key):
    """(leaf or None, siblings top-down) for raw `key` in the raw key/value map `kv`."""
    leaves = hashed_set(kv)
    kh = sha256(key)
    siblings = []
    depth = 0
    while len(leaves) > 1:
        left = [l for l in leaves if bit(l[0], depth) == 0]
        right = [l for l in leaves if bit(l[0], depth) == 1]
        if bit(kh, depth) == 0:
            siblings.append(subtree_root(right, depth + 1))
            leaves = left
        else:
            siblings.append(subtree_root(left, depth + 1))
            leaves = right
        depth += 1
    return (leaves[0] if leaves else None), siblings


# --- canonical encoding (Specs/encoding.md section 1) -------------------------------------------------

def leb128(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_proof(leaf, siblings):
    out = bytearray()
    if leaf is None:
        out.append(0)
    else:
        out.append(1)
        out += leaf[0] + leaf[1]
    out += leb128(len(siblings))
    bitmap = bytearray((len(siblings) + 7) // 8)
    for d, s in enumerate(siblings):
        if s != PLACEHOLDER:
            bitmap[d // 8] |= 0x80 >> (d % 8)
    out += bitmap
    for s in siblings:
        if s != PLACEHOLDER:
            out += s
    return bytes(out)


class DecodeError(Exception):
    pass


def decode_proof(b):
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(b):
            raise DecodeError("truncated")
        r = b[pos:pos + n]
        pos += n
        return r

    tag = take(1)[0]
    if tag == 0:
        leaf = None
    elif tag == 1:
        leaf = (take(32), take(32))
    else:
        raise DecodeError("unknown optional tag")
    # LEB128, shortest form, at most 5 bytes.
    n, shift, count = 0, 0, 0
    while True:
        c = take(1)[0]
        count += 1
        n |= (c & 0x7F) << shift
        if c & 0x80 == 0:
            if count > 1 and c == 0:
                raise DecodeError("non-minimal length")
            break
        shift += 7
        if count == 5:
            raise DecodeError("length overflow")
    if n > MAX_SIBLINGS:
        raise DecodeError("too many siblings")
    bitmap = take((n + 7) // 8)
    if n % 8 and bitmap[-1] & (0xFF >> (n % 8)):
        raise DecodeError("bitmap padding bits set")
    siblings = []
    for d in range(n):
        if bitmap[d // 8] & (0x80 >> (d % 8)):
            s = take(32)
            if s == PLACEHOLDER:
                raise DecodeError("explicit zero sibling")
            siblings.append(s)
        else:
            siblings.append(PLACEHOLDER)
    if pos != len(b):
        raise DecodeError("trailing bytes")
    return leaf, siblings


def common_prefix_bits(a, b):
    for i in range(32):
        if a[i] != b[i]:
            x = a[i] ^ b[i]
            return i * 8 + (8 - x.bit_length())
    return 256


def verify(proof_bytes, root_hash, key, value):
    """Spec section 4. `value` None proves absence. False for any malformed or non-matching proof."""
    try:
        leaf, siblings = decode_proof(proof_bytes)
    except DecodeError:
        return False
    kh = sha256(key)
    n = len(siblings)
    if leaf is None:
        if value is not None:
            return False
        h = PLACEHOLDER
    elif value is not None:
        if leaf[0] != kh or leaf[1] != sha256(value):
            return False
        h = leaf_hash(*leaf)
    else:
        if leaf[0] == kh or common_prefix_bits(leaf[0], kh) < n:
            return False
        h = leaf_hash(*leaf)
    for d in range(n - 1, -1, -1):
        h = internal_hash(h, siblings[d]) if bit(kh, d) == 0 else internal_hash(siblings[d], h)
    return h == root_hash


# --- vectors -------------------------------------------------------------------------------------------

def close_pairs(count, prefix_bits):
    """Raw keys b"near-<i>" whose SHA-256 share at least `prefix_bits` leading bits with another one."""
    hashes = sorted((sha256(b"near-%d" % i), b"near-%d" % i) for i in range(count))
    out = []
    for (ha, ka), (hb, kb) in zip(hashes, hashes[1:]):
        if common_prefix_bits(ha, hb) >= prefix_bits:
            out += [ka, kb]
    return out


def val(s):
    return s.encode() if isinstance(s, str) else s


def build_vectors():
    sets = []

    def add(name, steps, probe_keys):
        kv = {}
        out_steps = []
        for writes in steps:
            for k, v in writes:
                if v is None:
                    kv.pop(k, None)
                else:
                    kv[k] = v
            out_steps.append({
                "writes": [{"key": k.hex(), "value": None if v is None else v.hex()} for k, v in writes],
                "root": root(kv).hex(),
            })
        proofs = []
        for k in probe_keys:
            leaf, siblings = make_proof(kv, k)
            p = encode_proof(leaf, siblings)
            v = kv.get(k)
            assert verify(p, root(kv), k, v)
            proofs.append({"key": k.hex(), "value": None if v is None else v.hex(), "proof": p.hex()})
        sets.append({"name": name, "steps": out_steps, "proofs": proofs})
        return kv

    add("empty", [[]], [b"account/alice", b""])
    add("one key", [[(b"account/alice", b"\x01\x02")]], [b"account/alice", b"account/bob"])
    add("empty key and empty value", [[(b"", b""), (b"x", b"")]], [b"", b"x", b"y"])
    accounts = [(b"account/%d" % i, b"balance %d" % (i * 7)) for i in range(40)]
    add("forty accounts", [accounts], [b"account/0", b"account/17", b"account/39", b"account/40", b"validator/0"])
    near = close_pairs(200000, 30)[:6]
    add("keys sharing long hash prefixes",
        [[(k, b"v-" + k) for k in near]],
        near + [b"near-absent"])
    # Deletions: build, overwrite, delete down to one key, then to none; the root after each step is the
    # root of the set then held, whatever came before.
    base = [(b"k%02d" % i, b"v%02d" % i) for i in range(20)]
    add("deletions",
        [base,
         [(b"k03", b"changed"), (b"k04", None), (b"k99", None)] + [(b"k%02d" % i, None) for i in range(10, 20)],
         [(b"k%02d" % i, None) for i in range(0, 10) if i != 7],
         [(b"k07", None)]],
        [b"k07", b"k03"])
    add("deletions collapsing near keys",
        [[(k, b"x") for k in near] + [(b"other", b"y")], [(k, None) for k in near[1:]]],
        [near[0], near[1], b"other"])

    kv = {b"account/%d" % i: b"balance %d" % (i * 7) for i in range(40)}
    r = root(kv)
    good_leaf, good_sib = make_proof(kv, b"account/17")
    good = encode_proof(good_leaf, good_sib)
    absent_leaf, absent_sib = make_proof(kv, b"account/40")
    absent = encode_proof(absent_leaf, absent_sib)
    flipped = bytearray(good)
    flipped[-1] ^= 1
    invalid = [
        {"why": "wrong value", "key": b"account/17".hex(), "value": b"balance 0".hex(), "proof": good.hex()},
        {"why": "present key claimed absent", "key": b"account/17".hex(), "value": None, "proof": good.hex()},
        {"why": "absent key claimed present", "key": b"account/40".hex(), "value": b"x".hex(), "proof": absent.hex()},
        {"why": "flipped sibling byte", "key": b"account/17".hex(), "value": kv[b"account/17"].hex(), "proof": bytes(flipped).hex()},
        {"why": "proof of another key", "key": b"account/18".hex(), "value": kv[b"account/17"].hex(), "proof": good.hex()},
        {"why": "trailing byte", "key": b"account/17".hex(), "value": kv[b"account/17"].hex(), "proof": (good + b"\x00").hex()},
        {"why": "sibling dropped", "key": b"account/17".hex(), "value": kv[b"account/17"].hex(),
         "proof": encode_proof(good_leaf, good_sib[1:]).hex()},
    ]
    for v in invalid:
        assert not verify(bytes.fromhex(v["proof"]), r, bytes.fromhex(v["key"]),
                          None if v["value"] is None else bytes.fromhex(v["value"])), v["why"]
        v["root"] = r.hex()

    primitives = {
        "placeholder": PLACEHOLDER.hex(),
        "leaf": {"keyHash": sha256(b"k").hex(), "valueHash": sha256(b"v").hex(),
                 "hash": leaf_hash(sha256(b"k"), sha256(b"v")).hex()},
        "internal": {"left": sha256(b"l").hex(), "right": sha256(b"r").hex(),
                     "hash": internal_hash(sha256(b"l"), sha256(b"r")).hex()},
    }
    return {
        "description": "State tree vectors (Specs/state-tree.md), generated by tools/jmt_ref.py from the spec's "
                       "binary definition. Each set's steps are applied in order (version 0, 1, ...); 'root' is "
                       "the root after the step; 'proofs' are against the last root. Keys and values are raw "
                       "ledger bytes in hex; value null means absent.",
        "primitives": primitives,
        "sets": sets,
        "invalidProofs": invalid,
    }


def vectors_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Specs", "vectors", "state-tree.json")


def check(doc):
    for s in doc["sets"]:
        kv = {}
        for step in s["steps"]:
            for w in step["writes"]:
                k = bytes.fromhex(w["key"])
                if w["value"] is None:
                    kv.pop(k, None)
                else:
                    kv[k] = bytes.fromhex(w["value"])
            assert root(kv).hex() == step["root"], s["name"]
        r = root(kv)
        for p in s["proofs"]:
            k = bytes.fromhex(p["key"])
            v = None if p["value"] is None else bytes.fromhex(p["value"])
            assert kv.get(k) == v, (s["name"], p["key"])
            leaf, siblings = make_proof(kv, k)
            assert encode_proof(leaf, siblings).hex() == p["proof"], (s["name"], p["key"])
            assert verify(bytes.fromhex(p["proof"]), r, k, v), (s["name"], p["key"])
    for v in doc["invalidProofs"]:
        assert not verify(bytes.fromhex(v["proof"]), bytes.fromhex(v["root"]), bytes.fromhex(v["key"]),
                          None if v["value"] is None else bytes.fromhex(v["value"])), v["why"]
    n = sum(len(s["proofs"]) for s in doc["sets"])
    print(f"ok: {len(doc['sets'])} sets, {n} proofs, {len(doc['invalidProofs'])} invalid proofs rejected")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "generate":
        doc = build_vectors()
        with open(vectors_path(), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        check(doc)
    elif cmd == "check":
        with open(vectors_path()) as f:
            check(json.load(f))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
