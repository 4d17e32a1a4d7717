#!/usr/bin/env python3
"""Reference files for kernels/io/safetensors, written by the pinned safetensors (0.7.0).

--out gets:
  dtypes.safetensors   one tensor per dtype the torch binding can write (extremes, NaN, inf,
                       -0.0 included), a scalar, zero-size tensors, and __metadata__;
  sharded/             a checkpoint split into shards by huggingface_hub as transformers'
                       save_pretrained splits it, with model.safetensors.index.json;
  expected.json        what each file holds, in plain JSON: per tensor the dtype code, the
                       shape as the file states it and the values, flattened (floats as numbers,
                       "nan"/"inf"/"-inf" as strings; C64 as [re, im]; F4 as its packed bytes,
                       since nothing converts float4 to a wider type).
"""
import argparse
import json
import math
from pathlib import Path

import torch
from huggingface_hub import split_torch_state_dict_into_shards
from safetensors.torch import save_file

INPUTS = []

CODES = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.uint16: "U16",
    torch.int32: "I32", torch.uint32: "U32", torch.int64: "I64", torch.uint64: "U64",
    torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
    torch.complex64: "C64", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
    torch.float8_e8m0fnu: "F8_E8M0", torch.float4_e2m1fn_x2: "F4",
}


def float_json(x: float):
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def describe(t: torch.Tensor) -> dict:
    shape = list(t.shape)
    if t.dtype == torch.float4_e2m1fn_x2:
        shape[-1] *= 2  # the file counts 4-bit values
        values = {"packed_bytes": t.view(torch.uint8).flatten().tolist()}
    elif t.dtype == torch.complex64:
        values = {"values": [[float_json(re), float_json(im)] for re, im in torch.view_as_real(t).reshape(-1, 2).tolist()]}
    elif t.dtype.is_floating_point:
        values = {"values": [float_json(x) for x in t.double().flatten().tolist()]}
    else:
        values = {"values": t.flatten().tolist()}
    return {"dtype": CODES[t.dtype], "shape": shape, **values}


def every_dtype(g: torch.Generator) -> dict[str, torch.Tensor]:
    specials = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan")])

    def floats(dtype, shape):
        return torch.cat([torch.randn(shape, generator=g).mul(8).flatten(), specials]).to(dtype)

    def ints(dtype, shape):
        info = torch.iinfo(dtype)
        body = torch.randint(max(info.min, -1000), min(info.max, 1000), shape, generator=g, dtype=torch.int64)
        return torch.cat([body.flatten().to(dtype), torch.tensor([info.min, info.max], dtype=dtype)])

    t = {
        "bool": torch.rand((3, 5), generator=g) > 0.5,
        "u8": ints(torch.uint8, (4, 3)), "i8": ints(torch.int8, (2, 3)),
        "i16": ints(torch.int16, (5,)), "u16": ints(torch.uint16, (5,)),
        "i32": ints(torch.int32, (2, 2)), "u32": ints(torch.uint32, (7,)),
        "i64": ints(torch.int64, (3,)), "u64": ints(torch.uint64, (3,)),
        "f16": floats(torch.float16, (2, 3)), "bf16": floats(torch.bfloat16, (3, 2)),
        "f32": floats(torch.float32, (2, 2, 2)), "f64": floats(torch.float64, (5,)),
        "f8_e4m3": floats(torch.float8_e4m3fn, (9,)), "f8_e5m2": floats(torch.float8_e5m2, (9,)),
        # e8m0 holds powers of two only (and NaN as 0xFF).
        "f8_e8m0": torch.tensor([2.0 ** k for k in range(-8, 9)] + [float("nan")]).to(torch.float8_e8m0fnu),
        "c64": torch.complex(torch.randn(4, generator=g), torch.randn(4, generator=g)),
        "f4": torch.randint(0, 256, (3, 4), generator=g, dtype=torch.uint8).view(torch.float4_e2m1fn_x2),
        "scalar_f32": torch.tensor(3.25),
        "scalar_i64": torch.tensor(-7, dtype=torch.int64),
        "empty_f32": torch.zeros(0),
        "empty_bf16": torch.zeros(3, 0, 2, dtype=torch.bfloat16),
        "empty_i64": torch.zeros(0, 4, dtype=torch.int64),
    }
    assert {v.dtype for v in t.values()} == set(CODES), "a dtype is missing"
    return t


def sharded(g: torch.Generator, out: Path) -> dict[str, torch.Tensor]:
    # A small decoder-shaped state dict, split the way save_pretrained splits one.
    sd = {"model.embed_tokens.weight": torch.randn(64, 16, generator=g).to(torch.bfloat16)}
    for i in range(3):
        p = f"model.layers.{i}."
        sd[p + "self_attn.q_proj.weight"] = torch.randn(16, 16, generator=g).to(torch.bfloat16)
        sd[p + "self_attn.q_proj.bias"] = torch.randn(16, generator=g).to(torch.bfloat16)
        sd[p + "mlp.down_proj.weight"] = torch.randn(16, 32, generator=g).to(torch.bfloat16)
        sd[p + "input_layernorm.weight"] = torch.ones(16)
    sd["lm_head.weight"] = torch.randn(64, 16, generator=g).to(torch.bfloat16)
    split = split_torch_state_dict_into_shards(sd, max_shard_size=3000)
    assert split.is_sharded and len(split.filename_to_tensors) >= 3
    out.mkdir()
    for filename, names in split.filename_to_tensors.items():
        save_file({n: sd[n] for n in names}, out / filename, metadata={"format": "pt"})
    index = {"metadata": {"total_size": split.metadata["total_size"]}, "weight_map": split.tensor_to_filename}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    g = torch.Generator().manual_seed(0)

    tensors = every_dtype(g)
    metadata = {"format": "pt", "note": "golden ✓ ünïcode", "empty": ""}
    save_file(tensors, out / "dtypes.safetensors", metadata=metadata)
    shards = sharded(g, out / "sharded")

    expected = {
        "dtypes.safetensors": {"metadata": metadata, "tensors": {k: describe(v) for k, v in tensors.items()}},
        "sharded": {"shards": len(list((out / "sharded").glob("*.safetensors"))),
                    "tensors": {k: describe(v) for k, v in shards.items()}},
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
