#!/usr/bin/env python3
"""Checks a safetensors file written by trimvl with the reference reader (safetensors 0.7.0).

usage: check_safetensors.py CANDIDATE REFERENCE

CANDIDATE must load with the reference (which validates the whole header and layout), use the
reference writer's header layout (JSON padded with spaces so the data starts 8-byte aligned),
and hold the same metadata and the same tensors as REFERENCE: names, dtypes, shapes and bytes.
Prints each difference; exit status 0 when there is none, 1 otherwise.
"""
import json
import struct
import sys

import torch
from safetensors import safe_open


def load(path: str) -> tuple[dict, dict]:
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


def raw(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1).view(torch.uint8)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    candidate, reference = sys.argv[1:]
    problems = []

    with open(candidate, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = f.read(n)
    if (8 + n) % 8:
        problems.append(f"data section starts at byte {8 + n}, not 8-byte aligned")
    text = header.decode("utf-8")
    body = text.rstrip(" ")
    if body != body.strip() or len(text) - len(body) >= 8:
        problems.append(f"header is not padded as the reference pads it (up to 7 trailing spaces): {text[-16:]!r}")
    json.loads(text)

    got, got_meta = load(candidate)
    want, want_meta = load(reference)
    if got_meta != want_meta:
        problems.append(f"metadata {got_meta} != {want_meta}")
    if set(got) != set(want):
        problems.append(f"tensor names differ: only in candidate {set(got) - set(want)}, "
                        f"only in reference {set(want) - set(got)}")
    for name in sorted(set(got) & set(want)):
        a, b = got[name], want[name]
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} != {b.dtype}{list(b.shape)}")
        elif not torch.equal(raw(a), raw(b)):
            problems.append(f"{name}: bytes differ")

    for p in problems:
        print(f"check_safetensors: {candidate}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
