#!/usr/bin/env python3
"""Retained sets of trimkv 0.1.5's own caches (TrimKVCache, PagedTrimKVCache) over long streams.

Each case drives one of the reference classes through its real `update` (every layer) and
`compress` (once per forward, after all layers) with random K/V and random log β, over prefill
chunks then single-token decode steps, and records after every forward which stream positions
each (layer, kv-head) retains. tests/cache/policy_golden_test.cpp replays the same log β through
our policies and must retain the same positions at every step.

log β is drawn log-uniformly in [-0.5, -1e-4] (short- and long-lived tokens both), rounded to
bf16 and handed to the reference as bf16, as the gate's output is; lookahead-2 cases also draw
exact zeros, whose compute_log_G score is NaN (ranked first by torch.topk, dropped by the
threshold's >=). A top-k whose k-th and (k+1)-th scores are equal has no defined answer
(torch.topk's tie order is implementation-defined), so every top-k the reference runs is checked
for a tie at its cut; a case that meets one is redrawn from the next seed.

--out gets cases.json: per case the policy options, the seed used, and per forward the token
count, log β per stream ([L·H_kv][T], float32 values exact in bf16, stream = layer·H_kv + head)
and the retained positions per stream (chronological).
"""
import argparse
import json
import math
from pathlib import Path

import torch

import _trimkv_env

INPUTS = []

DIM = 4          # K/V width: irrelevant to what is kept, small to stay fast
BLOCK = 16       # paged cache block size (the CPU stand-in has no flash-attn block constraint)
DECODE = [1] * 60

# policy: trimkv -> TrimKVCache; dbtrimkv -> PagedTrimKVCache.
CASES = [
    dict(name="trimkv_b1", policy="trimkv", layers=3, heads=2, budget=24, buffer=1, chunks=[57] + DECODE),
    dict(name="trimkv_b8_chunks", policy="trimkv", layers=2, heads=3, budget=32, buffer=8,
         chunks=[40, 33, 90] + DECODE),
    dict(name="trimkv_window", policy="trimkv", layers=2, heads=2, budget=20, buffer=5, window=6,
         chunks=[120] + DECODE),
    dict(name="trimkv_lookahead2", policy="trimkv", layers=2, heads=2, budget=28, buffer=4, lookahead=2,
         zeros=0.02, chunks=[75, 20] + DECODE),
    dict(name="trimkv_window_lookahead2", policy="trimkv", layers=3, heads=1, budget=16, buffer=3, window=4,
         lookahead=2, zeros=0.02, chunks=[300] + DECODE),
    dict(name="dbtrimkv_fixed", policy="dbtrimkv", strategy="fixed_budget", layers=3, heads=2, budget=16,
         buffer=4, chunks=[130] + DECODE),
    dict(name="dbtrimkv_fixed_chunks", policy="dbtrimkv", strategy="fixed_budget", layers=2, heads=2, budget=24,
         buffer=8, chunks=[45, 61, 38] + DECODE),
    dict(name="dbtrimkv_fixed_lookahead2", policy="dbtrimkv", strategy="fixed_budget", layers=2, heads=3,
         budget=12, buffer=2, lookahead=2, zeros=0.02, chunks=[90] + DECODE),
    dict(name="dbtrimkv_fixed_floor", policy="dbtrimkv", strategy="fixed_budget", layers=3, heads=2, budget=16,
         buffer=4, min_per_head=5, chunks=[200] + DECODE),
    dict(name="dbtrimkv_fixed_floor_lookahead2", policy="dbtrimkv", strategy="fixed_budget", layers=2, heads=2,
         budget=20, buffer=3, min_per_head=3, lookahead=2, zeros=0.02, chunks=[64, 64] + DECODE),
    dict(name="dbtrimkv_threshold", policy="dbtrimkv", strategy="threshold", layers=3, heads=2, budget=16,
         buffer=4, alpha=0.8, chunks=[100] + DECODE),
    dict(name="dbtrimkv_threshold_chunks", policy="dbtrimkv", strategy="threshold", layers=2, heads=2,
         budget=16, buffer=8, alpha=0.5, chunks=[40, 24, 80] + DECODE),
    dict(name="dbtrimkv_threshold_floor", policy="dbtrimkv", strategy="threshold", layers=3, heads=2,
         budget=16, buffer=2, alpha=0.9, min_per_head=6, chunks=[150] + DECODE),
    dict(name="dbtrimkv_threshold_lookahead2", policy="dbtrimkv", strategy="threshold", layers=2, heads=2,
         budget=16, buffer=4, alpha=0.7, min_per_head=2, lookahead=2, zeros=0.02, chunks=[96] + DECODE),
    dict(name="dbtrimkv_threshold_nan", policy="dbtrimkv", strategy="threshold", layers=2, heads=2, budget=16,
         buffer=3, alpha=0.7, lookahead=2, zeros=0.05, chunks=[48] + DECODE),
]


class Tie(Exception):
    pass


def checked_topk(real_topk):
    """torch.topk that refuses a cut between equal scores (NaN counts as equal to NaN)."""
    def topk(input, k, dim=-1, largest=True, sorted=True):
        assert largest, "trimkv only asks for the largest"
        if k < input.shape[dim]:
            ordered = torch.sort(input, dim=dim, descending=True).values
            last, first_out = ordered.narrow(dim, k - 1, 1), ordered.narrow(dim, k, 1)
            if ((last == first_out) | (last.isnan() & first_out.isnan())).any():
                raise Tie()
        return real_topk(input, k, dim=dim, largest=largest, sorted=sorted)
    return topk


def draw_log_beta(g, shape, zeros):
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    log_beta = -torch.exp(math.log(1e-4) + u * (math.log(0.5) - math.log(1e-4)))
    if zeros:
        log_beta = torch.where(torch.rand(shape, generator=g, dtype=torch.float64) < zeros, 0.0, log_beta)
    return log_beta.to(torch.bfloat16)


def make_cache(cache_utils, case, total):
    L, H = case["layers"], case["heads"]
    if case["policy"] == "trimkv":
        return cache_utils.TrimKVCache(max_seq_len=total, memory_size=case["budget"], buffer_size=case["buffer"],
                                       sliding_window_size=case.get("window", 0),
                                       lookahead_steps=case.get("lookahead", 1), device="cpu")
    return cache_utils.PagedTrimKVCache(num_layers=L, num_heads=H, max_seq_len=total, memory_size=case["budget"],
                                        alpha_threshold=case.get("alpha"), buffer_size=case["buffer"],
                                        min_tokens_per_head=case.get("min_per_head", 0),
                                        strategy=case["strategy"], lookahead_steps=case.get("lookahead", 1),
                                        block_size=BLOCK, device="cpu")


def retained(cache, case):
    L, H = case["layers"], case["heads"]
    if case["policy"] == "trimkv":
        return [cache.kv_positions[l][0, h].tolist() for l in range(L) for h in range(H)]
    # log() walks each (layer, head)'s block table, layer-major: the stream order we use.
    return [p.tolist() for p in cache.log()["head_wise_kv_positions"]]


def run_case(cache_utils, case, seed):
    g = torch.Generator().manual_seed(seed)
    L, H = case["layers"], case["heads"]
    total = sum(case["chunks"])
    cache = make_cache(cache_utils, case, total)
    forwards, seen, evictions = [], 0, 0
    for T in case["chunks"]:
        log_beta = draw_log_beta(g, (L, H, T), case.get("zeros", 0.0))
        position = torch.arange(seen, seen + T)
        for l in range(L):
            k = torch.randn(1, H, T, DIM, generator=g).to(torch.bfloat16)
            v = torch.randn(1, H, T, DIM, generator=g).to(torch.bfloat16)
            cache.update(k, v, l, {"cache_position": position, "retention_weights": log_beta[l][None]})
        cache.compress()
        seen += T
        kept = retained(cache, case)
        before = sum(len(f) for f in forwards[-1]["retained"]) + L * H * T if forwards else L * H * T
        evictions += sum(len(s) for s in kept) < before
        forwards.append({"tokens": T, "log_beta": log_beta.float().reshape(L * H, T).tolist(), "retained": kept})
    return forwards, evictions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    _trimkv_env.install()
    _trimkv_env.self_check()
    from trimkv import cache_utils

    real_topk = torch.topk
    torch.topk = checked_topk(real_topk)
    try:
        cases = []
        for index, case in enumerate(CASES):
            for attempt in range(50):
                seed = 1000 * index + attempt
                try:
                    forwards, evictions = run_case(cache_utils, case, seed)
                    break
                except Tie:
                    continue
            else:
                raise SystemExit(f"{case['name']}: every seed met a tie at a top-k cut")
            # A case that never evicts, or evicts only once, proves little.
            if evictions < 5:
                raise SystemExit(f"{case['name']}: only {evictions} evicting forwards")
            options = {key: case[key] for key in ("name", "policy", "layers", "heads", "budget", "buffer")}
            options.update(strategy=case.get("strategy", "fixed_budget"), window=case.get("window", 0),
                           lookahead=case.get("lookahead", 1), alpha=case.get("alpha", 0.8),
                           min_per_head=case.get("min_per_head", 0), seed=seed, evicting_forwards=evictions)
            print(f"{case['name']}: seed {seed}, {evictions} evicting forwards of {len(forwards)}")
            cases.append({**options, "forwards": forwards})
    finally:
        torch.topk = real_topk
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cases.json").write_text(json.dumps({"cases": cases}))


if __name__ == "__main__":
    main()
