#!/usr/bin/env python3
"""Retention-gate references: trimkv 0.1.5's own RetentionGate (rg, TrimKV) and RetentionGate10
(rg10, DBTrimKV) modules from models/qwen3_vl/modeling_trimkv_qwen3_vl.py, on random weights and
inputs, for tests/cache/retention_gate_golden_test.cpp.

The weights are drawn so that log beta spans about [-3, -2e-3] (rg) and [-6, -6e-4] (rg10) over the
inputs (hidden layers wide enough that SiLU is far from linear, per-head biases of different sizes),
which exercises logsigmoid on both sides of zero; trimkv's initialisation would give log beta ~ -1e-4
everywhere. The generator refuses draws that do not reach below -2 and above -1e-2.

Writes --out/gates.safetensors with, for each variant in (rg, rg10) and dtype in (fp32, bf16):
  <variant>.<dtype>.<leaf>          the module's parameters under trimkv_weights.pth's leaf names
                                    (linear1.weight, linear1.bias, [linear2.*,] linear{2,3}.weight, bias)
  <variant>.<dtype>.<case>.x        [T, hidden] input, <case> in (prefill: T = 37, decode: T = 1)
  <variant>.<dtype>.<case>.log_beta [T, H_kv] the module's output for x (batch dimension dropped)
bf16 entries are the same random draws rounded to bf16, run by the module converted with .to(bf16)
(how trimkv runs gates under torch_dtype=bfloat16). expected.json records the sizes and the span
of log beta per variant and dtype.
"""
import argparse
import copy
import json
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

import _trimkv_env

INPUTS = []

HIDDEN, INTERMEDIATE, KV_HEADS = 48, 512, 3
CASES = {"prefill": 37, "decode": 1}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# z = mlp(x) + bias must reach about -3 (log beta -3) and +6 (log beta -2e-3).
HEAD_BIAS = [1.0, 2.5, 4.0]
# Weights ~ N(0, (gain / sqrt(fan_in))^2): pre-activations of a few units in every hidden layer,
# an mlp output spread of about 2.
HIDDEN_GAIN, OUT_GAIN = 2.0, 1.5


def gate_config():
    return types.SimpleNamespace(hidden_size=HIDDEN, retention_gate_intermediate_size=INTERMEDIATE,
                                 num_key_value_heads=KV_HEADS, hidden_act="silu", initializer_range=0.02,
                                 retention_gate_bias_init=0.0)


def randomise(module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name == "bias":
                p.copy_(torch.tensor(HEAD_BIAS))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                gain = OUT_GAIN if p.shape[0] == KV_HEADS else HIDDEN_GAIN
                p.copy_(gain / p.shape[1] ** 0.5 * torch.randn(p.shape, generator=gen))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    torch.set_num_threads(2)
    _trimkv_env.install()
    _trimkv_env.self_check()
    from trimkv.models.qwen3_vl.modeling_trimkv_qwen3_vl import RetentionGate, RetentionGate10

    tensors, expected = {}, {"hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_kv_heads": KV_HEADS,
                             "cases": CASES, "span": {}}
    for seed, (variant, cls) in enumerate([("rg", RetentionGate), ("rg10", RetentionGate10)], start=11):
        gen = torch.Generator().manual_seed(seed)
        base = cls(gate_config()).eval()
        randomise(base, gen)
        inputs = {case: torch.randn(1, t, HIDDEN, generator=gen) for case, t in CASES.items()}
        for dtype_name, dtype in DTYPES.items():
            module = copy.deepcopy(base).to(dtype)
            prefix = f"{variant}.{dtype_name}"
            for leaf, p in module.state_dict().items():
                tensors[f"{prefix}.{leaf}"] = p.detach().clone()
            lo, hi = 0.0, -float("inf")
            for case, x in inputs.items():
                x = x.to(dtype)
                with torch.no_grad():
                    log_beta = module(x)[0]
                if log_beta.dtype != dtype or log_beta.shape != (CASES[case], KV_HEADS):
                    raise SystemExit(f"{prefix}.{case}: unexpected output {log_beta.dtype} {tuple(log_beta.shape)}")
                tensors[f"{prefix}.{case}.x"] = x[0].clone()
                tensors[f"{prefix}.{case}.log_beta"] = log_beta.clone()
                lo, hi = min(lo, float(log_beta.min())), max(hi, float(log_beta.max()))
            if not (lo < -2.0 and -1e-2 < hi < 0.0):
                raise SystemExit(f"{prefix}: log beta spans [{lo}, {hi}], not the intended ~[-3, -1e-3]")
            expected["span"][prefix] = [lo, hi]
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, out / "gates.safetensors")
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
