#!/usr/bin/env python3
"""Checks Specs/openrpc.json against the RPC golden files.

Every golden file Tests/RPCTests/Resources/rpc/<method>/<case>.json (and rpc-checker/, the chain with checkers) holds a `request` and the `response` the
node returned (for batches in _protocol/, arrays of both). The `result` of each successful response is
validated against the result schema of its method in Specs/openrpc.json (JSON Schema draft 7, `$ref`s
resolved inside the document). Error responses, notifications, subscriptions (sub_*) and rpc.discover
(a golden copy of the document itself) are skipped.

Stricter than plain JSON Schema: an object schema that says `"type": "object"` and lists `properties` must
list every member the node returns, so a member the document does not describe fails the check. (The
document itself stays open, as Specs/rpc.md promises clients that new members may be added.) Branches of
discriminated unions that only pin a discriminator (no `"type": "object"`) are not closed.

Usage: python3 tools/check_openrpc_golden.py [-v]
Prints `N passed, M failed`; exits 1 on any failure."""
import glob
import json
import os
import sys

import jsonschema
from jsonschema import validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC_URI = "urn:sharechain:openrpc"
SKIP_METHODS = {"rpc.discover", "sub_subscribe", "sub_unsubscribe"}


def closed_properties(validator, properties, instance, schema):
    """`properties`, plus: members not listed are errors when the schema is an object schema."""
    yield from validators.Draft7Validator.VALIDATORS["properties"](validator, properties, instance, schema)
    if schema.get("type") == "object" and "additionalProperties" not in schema and validator.is_type(instance, "object"):
        extra = sorted(set(instance) - set(properties))
        if extra:
            yield jsonschema.ValidationError(f"members not in the document: {', '.join(extra)}")


StrictValidator = validators.extend(validators.Draft7Validator, {"properties": closed_properties})


def load_doc():
    with open(os.path.join(ROOT, "Specs", "openrpc.json")) as f:
        return json.load(f)


def calls(golden):
    """(method, result) of every successful answer in a golden file, paired with its request by id."""
    req, resp = golden.get("request"), golden.get("response")
    reqs = req if isinstance(req, list) else [req]
    resps = resp if isinstance(resp, list) else ([resp] if resp is not None else [])
    by_id = {}
    for r in reqs:
        if isinstance(r, dict) and "id" in r and isinstance(r.get("method"), str):
            by_id[json.dumps(r["id"])] = r["method"]
    for a in resps:
        if not isinstance(a, dict) or "result" not in a:
            continue  # error answers (and anything not an answer)
        method = by_id.get(json.dumps(a.get("id")))
        if method is not None:
            yield method, a["result"]


def where(e):
    return "/".join(str(p) for p in e.absolute_path) or "(result)"


def report(e, indent):
    """One error; for a failed oneOf/anyOf, the errors of the branches whose discriminator (const) matched."""
    if e.validator in ("oneOf", "anyOf") and e.context:
        branches = {}
        for sub in e.context:
            branches.setdefault(sub.schema_path[0], []).append(sub)
        # A branch is out of the running when its discriminator (const) or the value's own type differs.
        def ruled_out(subs):
            return any(s.validator == "const" or (s.validator == "type" and not s.relative_path) for s in subs)
        candidates = [subs for subs in branches.values() if not ruled_out(subs)]
        if not candidates:
            print(f"{indent}at {where(e)}: matches no variant (discriminator or type)")
            return
        if len(candidates) < len(branches):
            print(f"{indent}at {where(e)}: does not match its variant:")
            for subs in candidates:
                for sub in subs:
                    report(sub, indent + "  ")
            return
    print(f"{indent}at {where(e)}: {e.message[:300]}")
    if e.context:
        for sub in sorted(e.context, key=lambda s: list(s.absolute_path))[:8]:
            print(f"{indent}  - {where(sub)}: {sub.message[:200]}")


def main():
    verbose = "-v" in sys.argv[1:]
    doc = load_doc()
    registry = Registry().with_resource(DOC_URI, Resource(contents=doc, specification=DRAFT7))
    index = {m["name"]: i for i, m in enumerate(doc["methods"])}
    passed, failed = 0, 0
    # the main golden chain, and the chain with checkers (protocol-4 transactions and checker_getAssignments)
    files = sorted(glob.glob(os.path.join(ROOT, "Tests", "RPCTests", "Resources", "rpc", "*", "*.json"))
                   + glob.glob(os.path.join(ROOT, "Tests", "RPCTests", "Resources", "rpc-checker", "*", "*.json")))
    if not files:
        print("no golden files found", file=sys.stderr)
        return 1
    for path in files:
        rel = os.path.relpath(path, ROOT)
        with open(path) as f:
            golden = json.load(f)
        for n, (method, result) in enumerate(calls(golden)):
            if method in SKIP_METHODS:
                continue
            label = f"{rel}" + (f" [{n}]" if isinstance(golden.get("response"), list) else "") + f" ({method})"
            if method not in index:
                failed += 1
                print(f"FAIL {label}: method not in the document")
                continue
            schema = {"$ref": f"{DOC_URI}#/methods/{index[method]}/result/schema"}
            validator = StrictValidator(schema, registry=registry)
            errors = sorted(validator.iter_errors(result), key=lambda e: list(e.absolute_path))
            if errors:
                failed += 1
                print(f"FAIL {label}")
                for e in errors:
                    report(e, "  ")
            else:
                passed += 1
                if verbose:
                    print(f"ok   {label}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
