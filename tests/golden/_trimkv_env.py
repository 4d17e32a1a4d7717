"""Makes `import trimkv` work without flash-attn, and trimkv's paged model path runnable on the CPU.

trimkv 0.1.5 imports flash_attn at module load (trimkv/attn/db_flash_attn.py) and runs its paged
cache through `flash_attn_with_kvcache`; flash-attn has no CPU build. install() registers a
stand-in `flash_attn` package whose two functions implement flash-attn's documented semantics in
plain torch (float32 softmax, output in the query dtype):

  - causal masks are aligned to the bottom-right: query i of Lq sees keys j <= i + Lk - Lq;
  - GQA: query head h reads kv head h // (Hq // Hk);
  - flash_attn_with_kvcache reads each sequence's first cache_seqlens[b] keys through its
    block_table (k_cache [blocks, block_size, Hk, D]);
  - flash_attn_varlen_func packs sequences by cu_seqlens.

self_check() compares both against per-sequence softmax attention built independently and raises
when they differ; generators call it before trusting anything computed through the stand-in.
"""
import sys
import types

import torch


def _attend(q, k, v, scale, causal):
    """q [Lq, Hq, D], k/v [Lk, Hk, D] -> [Lq, Hq, D] (float32 math)."""
    lq, hq, _ = q.shape
    lk, hk, _ = k.shape
    group = hq // hk
    kf = k.float().repeat_interleave(group, dim=1)
    vf = v.float().repeat_interleave(group, dim=1)
    logits = torch.einsum("qhd,khd->hqk", q.float(), kf) * scale
    if causal:
        allowed = torch.arange(lk)[None, :] <= (torch.arange(lq)[:, None] + lk - lq)
        logits = logits.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.einsum("hqk,khd->qhd", probs, vf).to(q.dtype)


def flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, cache_seqlens=None, block_table=None,
                            softmax_scale=None, causal=False, **unused):
    if k is not None or v is not None:
        raise NotImplementedError("the stand-in does not append to the cache (trimkv never asks it to)")
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    block = k_cache.shape[1]
    out = []
    for b in range(q.shape[0]):
        n = int(cache_seqlens[b])
        idx = torch.arange(n)
        blocks = block_table[b].long()[idx // block]
        rows_k = k_cache[blocks, idx % block]  # [n, Hk, D]
        rows_v = v_cache[blocks, idx % block]
        out.append(_attend(q[b], rows_k, rows_v, scale, causal))
    return torch.stack(out)


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None,
                           dropout_p=0.0, softmax_scale=None, causal=False, **unused):
    if dropout_p:
        raise NotImplementedError("dropout")
    scale = softmax_scale if softmax_scale is not None else q.shape[-1] ** -0.5
    out = torch.empty_like(q)
    for s in range(len(cu_seqlens_q) - 1):
        q0, q1 = int(cu_seqlens_q[s]), int(cu_seqlens_q[s + 1])
        k0, k1 = int(cu_seqlens_k[s]), int(cu_seqlens_k[s + 1])
        out[q0:q1] = _attend(q[q0:q1], k[k0:k1], v[k0:k1], scale, causal)
    return out


def install():
    """Registers the stand-in (idempotent) and returns the trimkv package."""
    # transformers probes for flash_attn while importing; it must find none and keep its own
    # flash-attention integration off, so it is imported before the stand-in exists.
    import transformers.activations  # noqa: F401
    import transformers.modeling_flash_attention_utils  # noqa: F401
    if "flash_attn" not in sys.modules:
        package = types.ModuleType("flash_attn")
        interface = types.ModuleType("flash_attn.flash_attn_interface")
        interface.flash_attn_with_kvcache = flash_attn_with_kvcache
        interface.flash_attn_varlen_func = flash_attn_varlen_func
        package.flash_attn_interface = interface
        package.flash_attn_with_kvcache = flash_attn_with_kvcache
        package.flash_attn_varlen_func = flash_attn_varlen_func
        sys.modules["flash_attn"] = package
        sys.modules["flash_attn.flash_attn_interface"] = interface
    import trimkv
    return trimkv


def self_check(seed=0):
    """Both stand-in functions against naive per-sequence attention written without them."""
    g = torch.Generator().manual_seed(seed)
    d, hk, group, block = 8, 2, 3, 4
    hq = hk * group

    def naive(q, k, v, scale):  # one sequence, explicit loops, bottom-right causal
        lq, lk = q.shape[0], k.shape[0]
        out = torch.zeros(lq, hq, d)
        for h in range(hq):
            for i in range(lq):
                visible = i + lk - lq + 1
                w = torch.softmax((k[:visible, h // group] @ q[i, h]) * scale, dim=0)
                out[i, h] = w @ v[:visible, h // group]
        return out

    lens, lq, scale = [5, 0 + 3, 11], 3, 0.37
    blocks_per_seq = 3
    k_cache = torch.randn(len(lens) * blocks_per_seq + 1, block, hk, d, generator=g)
    v_cache = torch.randn(k_cache.shape, generator=g)
    table = torch.randperm(k_cache.shape[0], generator=g)[: len(lens) * blocks_per_seq].view(len(lens), -1)
    q = torch.randn(len(lens), lq, hq, d, generator=g)
    got = flash_attn_with_kvcache(q, k_cache, v_cache, cache_seqlens=torch.tensor(lens, dtype=torch.int32),
                                  block_table=table.int(), softmax_scale=scale, causal=True)
    for b, n in enumerate(lens):
        idx = torch.arange(n)
        rows = table[b][idx // block] * block + idx % block
        k = k_cache.view(-1, hk, d)[rows]
        v = v_cache.view(-1, hk, d)[rows]
        want = naive(q[b], k, v, scale)
        if not torch.allclose(got[b], want, atol=1e-5, rtol=1e-5):
            raise AssertionError(f"flash_attn_with_kvcache stand-in differs from softmax attention (seq {b})")

    cu_k = torch.tensor([0, 4, 4 + 7], dtype=torch.int32)
    cu_q = torch.tensor([0, 2, 4], dtype=torch.int32)
    qv = torch.randn(4, hq, d, generator=g)
    kv = torch.randn(11, hk, d, generator=g)
    vv = torch.randn(11, hk, d, generator=g)
    got = flash_attn_varlen_func(qv, kv, vv, cu_q, cu_k, softmax_scale=scale, causal=True)
    for s in range(2):
        want = naive(qv[2 * s:2 * s + 2], kv[cu_k[s]:cu_k[s + 1]], vv[cu_k[s]:cu_k[s + 1]], scale)
        if not torch.allclose(got[2 * s:2 * s + 2], want, atol=1e-5, rtol=1e-5):
            raise AssertionError(f"flash_attn_varlen_func stand-in differs from softmax attention (seq {s})")
