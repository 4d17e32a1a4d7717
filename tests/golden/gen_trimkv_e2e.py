#!/usr/bin/env python3
"""End-to-end TrimKV / DBTrimKV references: trimkv 0.1.5's own TrimKVQwen3VLForConditionalGeneration,
loaded the way its harnesses load it (from_pretrained(gate_dir, load_trimkv_weights=True,
download_from='local')), generating greedily with its caches on a tiny random Qwen3-VL and random
retention gates, for tests/language/trimkv_e2e_golden_test.cpp.

Setup (all fp32, CPU):
  - base/: transformers' Qwen3VLForConditionalGeneration, the "gqa4" parity shapes of
    _tiny_models.QWEN3VL_PARITY (4 layers, 2 KV heads, head_dim 128, DeepStack after layers 0-2),
    written with save_pretrained.
  - gates-rg/, gates-rg10/: trimkv gate directories as its training writes them: config.json
    (TrimKVQwen3VLConfig: retention_gate, base_model "../base", memory_size, trainable_params, ...)
    and trimkv_weights.pth (torch.save of the gate subset of the model's state_dict in bf16, so the
    tied rg10 linear3/bias repeat under every layer). Gate weights are drawn so log beta spans about
    [-2, -1e-3] with distinct values, which makes retention scores varied and tie-free.
  - One prompt: text, an image (16 x 20 patches -> 80 visual tokens after the 2 x 2 merge), text;
    244 tokens. Prefilled in one forward (the reference's mode), then a manual greedy loop as in
    trimkv's MMDU harness: feed the argmax, cache_position = tokens seen, GREEDY_TOKENS tokens.
  - Configurations (CONFIGS): trimkv = TrimKVCache (per-head top-M) and dbtrimkv = PagedTrimKVCache
    (global top-k or threshold). Attention is flash-attn's, as in trimkv's harnesses, computed by
    the checked pure-torch stand-in of _trimkv_env: the paged cache goes through trimkv's own
    paged_flash_attention_2 (flash_attn_with_kvcache); TrimKVCache, whose dense per-layer K/V trimkv
    hands to HF's flash_attention_2 wrapper, through DENSE_ATTENTION below (HF's wrapper needs the
    real package). HF's sdpa is no substitute: trimkv passes is_causal=True, and torch's SDPA aligns
    that triangle to the top-left, so a decode query would see only the first cached key. Budgets
    are small so that the cache evicts right after the prefill and again every few decode steps.

Every eviction's decision margin is checked here with trimkv's own score (compute_log_G for
lookahead > 1): the gap between the last kept and the first dropped score of each top-k (global,
per head, and the per-head top-k under a floor), and the distance of every score from log(alpha)
for the threshold, relative to the score at the boundary (fp32 scores of two implementations differ
by ~1e-6 relative: the gates read hidden states that went through differently ordered sums). A
margin below MIN_DECISION_MARGIN would make the C++ comparison test rounding, not the algorithm,
and fails the generator; so does a greedy step decided by less than MIN_MARGIN.

Writes into --out:
  base/, gates-rg/, gates-rg10/   the checkpoints above
  inputs.safetensors
    inputs_embeds [P, H]   what the reference's language model received for the prompt (after the
                           visual scatter), float32
    visual_mask [P] uint8, deepstack [levels, 80, H] float32, positions [3, P + GREEDY_TOKENS - 1]
                           int64: the M-RoPE rows of the prompt and of every decode step, as the
                           reference computed them; prompt_ids [P] int64
  <config>.safetensors
    tokens [GREEDY_TOKENS] int64; logits [GREEDY_TOKENS, V] float32 (row s: the logits step s's
    token was chosen from); after every forward f (prefill = 0): retained_lengths [F, L*H_kv]
    int64 and, concatenated in (forward, layer, head) order, retained_positions int64 (stream
    positions, chronological) and retained_log_beta float32
  expected.json   per config: the cache's settings in trimvl's policy vocabulary, the gate
                  directory, evictions (forward indices), minimum decision and greedy margins
"""
import argparse
import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AttentionInterface, Qwen3VLForConditionalGeneration

import _tiny_models as tiny
import _trimkv_env

INPUTS = ["tests/golden/_tiny_models.py"]

MODEL = "gqa4"
SEED = 81
IMAGE_GRID = (1, 16, 20)
TEXT_BEFORE, TEXT_AFTER = 70, 92
GREEDY_TOKENS = 28
MIN_MARGIN = 1e-3           # logits: top-1 minus top-2 at every greedy step
MIN_DECISION_MARGIN = 1e-4  # scores, relative: see the docstring
INTERMEDIATE = 512
HEAD_BIAS = [1.5, 3.5]      # per KV head: centres log beta at about -0.2 and -0.03
HIDDEN_GAIN, OUT_GAIN = 1.5, 1.2

# name -> cache settings. policy/budget/buffer/strategy/alpha/min_per_head/lookahead are trimvl's
# PolicyOptions; gates names the gate directory.
CONFIGS = {
    "trimkv": dict(policy="trimkv", gates="rg", budget=8, buffer=4, lookahead=1),
    "trimkv_lookahead2": dict(policy="trimkv", gates="rg", budget=8, buffer=4, lookahead=2),
    "dbtrimkv": dict(policy="dbtrimkv", gates="rg10", strategy="fixed_budget", budget=6, buffer=3, lookahead=1),
    "dbtrimkv_floor": dict(policy="dbtrimkv", gates="rg10", strategy="fixed_budget", budget=6, buffer=3,
                           min_per_head=2, lookahead=1),
    "dbtrimkv_lookahead2": dict(policy="dbtrimkv", gates="rg10", strategy="fixed_budget", budget=6, buffer=3,
                                lookahead=2),
    # The budget is unused under a threshold (trimkv passes it through; trimvl requires one).
    "dbtrimkv_threshold": dict(policy="dbtrimkv", gates="rg10", strategy="threshold", alpha=0.3, budget=6, buffer=4,
                               lookahead=1),
}


# ---- checkpoints ----------------------------------------------------------------------------------

def gate_config(gate_type: str):
    from trimkv.models.qwen3_vl.configuration_trimkv_qwen3_vl import TrimKVQwen3VLConfig
    spec = tiny.QWEN3VL_PARITY[MODEL]
    gate = dict(retention_gate=gate_type, retention_gate_intermediate_size=INTERMEDIATE, tie_retention_gate_layers=True)
    return TrimKVQwen3VLConfig(text_config=dict(spec["text"], **gate), vision_config=dict(spec["vision"]),
                               tie_word_embeddings=spec["text"]["tie_word_embeddings"], **spec["tokens"],
                               trainable_params=tiny.GATE_PARAMS, memory_size=8, base_model="../base")


def write_gate_dir(out: Path, gate_type: str, seed: int) -> None:
    """config.json + trimkv_weights.pth with gates of varied, trained-like-but-wider retention."""
    from trimkv.models.qwen3_vl.modeling_trimkv_qwen3_vl import TrimKVQwen3VLForConditionalGeneration
    config = gate_config(gate_type)
    torch.manual_seed(seed)
    model = TrimKVQwen3VLForConditionalGeneration(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # named_parameters lists a tied rg10 linear3/bias once: one draw, shared by every layer.
        for name, p in model.named_parameters():
            if tiny.GATE_PARAMS not in name:
                continue
            if name.endswith("retention_gate.bias"):
                p.copy_(torch.tensor(HEAD_BIAS))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                gain = OUT_GAIN if p.shape[0] == len(HEAD_BIAS) else HIDDEN_GAIN
                p.copy_(gain / p.shape[1] ** 0.5 * torch.randn(p.shape, generator=gen))
    out.mkdir(parents=True)
    config.save_pretrained(out)
    state = {k: v.to(torch.bfloat16).clone() for k, v in tiny.gate_state(model).items()}
    tiny.save_gates(out / "trimkv_weights.pth", state)


def load_reference(gate_dir: Path, base_dir: Path):
    from trimkv.models.qwen3_vl.modeling_trimkv_qwen3_vl import TrimKVQwen3VLForConditionalGeneration
    # base_model is stored relative to the gate directory; trimkv resolves it against the working
    # directory, so it is handed over absolute (a config attribute given as a kwarg overrides it).
    model = TrimKVQwen3VLForConditionalGeneration.from_pretrained(
        str(gate_dir), load_trimkv_weights=True, download_from="local", torch_dtype=torch.float32,
        base_model=str(base_dir))
    return model.eval()


# ---- the cache's decisions, in trimkv's own terms ---------------------------------------------------

def streams(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(positions, log beta) of every (layer, kv-head), stream-major, chronological."""
    from trimkv.cache_utils import PagedTrimKVCache
    out = []
    if isinstance(cache, PagedTrimKVCache):
        pc = cache.paged_cache
        for l in range(cache.num_layers):
            for h in range(cache.num_key_value_heads):
                n = int(pc.cache_seqlens[l, 0, h])
                idx = torch.arange(n)
                rows = pc.block_table[l, 0, h].long()[idx // cache.block_size] * cache.block_size + idx % cache.block_size
                out.append((pc.pos[rows, 0].clone(), pc.retention[rows, 0].float().clone()))
    else:
        for l in range(len(cache.key_cache)):
            for h in range(cache.kv_positions[l].shape[1]):
                out.append((cache.kv_positions[l][0, h].clone(), cache.retention_weights[l][0, h].float().clone()))
    return out


def scores_of(cache, pos: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
    from trimkv.cache_utils import compute_log_G
    q_idx = cache.get_seq_length() + 1
    if cache.lookahead_steps == 1:
        return log_beta.float() * (q_idx - pos)
    return compute_log_G(log_beta.float(), q_idx, pos, n=cache.lookahead_steps)


def topk_gap(scores: torch.Tensor, k: int) -> float:
    if k >= scores.numel() or k == 0:
        return math.inf
    s = scores.sort(descending=True).values
    return float((s[k - 1] - s[k]) / s[k - 1:k + 1].abs().max())


def decision_margin(cache, config: dict) -> float | None:
    """The smallest margin of the eviction compress() is about to run, or None when it will not run."""
    from trimkv.cache_utils import PagedTrimKVCache
    data = streams(cache)
    scores = [scores_of(cache, p, b) for p, b in data]
    if not isinstance(cache, PagedTrimKVCache):
        m, b = cache.memory_size, cache.buffer_size
        per_layer = len(data) // len(cache.key_cache)
        if not any(len(data[l * per_layer][0]) >= m + b for l in range(len(cache.key_cache))):
            return None
        return min(topk_gap(s, m) for s in scores if len(s) >= m + b)
    flat = torch.cat(scores)
    lh = len(data)
    floor = cache.min_tokens_per_head
    if cache.strategy == "fixed_budget":
        if lh * (cache.memory_size + cache.buffer_size) > flat.numel():
            return None
        margin = topk_gap(flat, min(lh * (cache.memory_size - floor), flat.numel()))
        if floor:
            kept = torch.zeros(flat.numel(), dtype=torch.bool)
            kept[flat.topk(lh * (cache.memory_size - floor)).indices] = True
            counts = [int(c.sum()) for c in kept.split([len(s) for s in scores])]
            margin = min([margin] + [topk_gap(s, c + floor) for s, c in zip(scores, counts)])
        return margin
    if cache.get_seq_length() % cache.buffer_size != 0:
        return None
    if floor:
        raise SystemExit("threshold with a floor is not among the configurations")
    log_alpha = math.log(cache.alpha_threshold)
    return float((flat - log_alpha).abs().min() / abs(log_alpha))


DENSE_ATTENTION = "trimvl_dense_flash_attention_2"


def dense_flash_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """HF's flash_attention_2 wrapper for batch 1 without padding: flash_attn on the dense K/V,
    causal aligned to the bottom-right (query i of Lq sees keys j <= i + Lk - Lq). query [1, Hq, Lq, D],
    key/value [1, Hk, Lk, D] -> [1, Lq, Hq, D]."""
    from flash_attn import flash_attn_varlen_func
    if query.shape[0] != 1 or attention_mask is not None or dropout:
        raise NotImplementedError("batch 1, no padding mask, no dropout")
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))
    cu_q = torch.tensor([0, q.shape[0]], dtype=torch.int32)
    cu_k = torch.tensor([0, k.shape[0]], dtype=torch.int32)
    return flash_attn_varlen_func(q, k, v, cu_q, cu_k, softmax_scale=scaling, causal=True)[None], None


def make_cache(config: dict, layers: int, kv_heads: int):
    from trimkv.cache_utils import PagedTrimKVCache, TrimKVCache
    if config["policy"] == "trimkv":
        return TrimKVCache(memory_size=config["budget"], buffer_size=config["buffer"],
                           lookahead_steps=config["lookahead"], device="cpu")
    return PagedTrimKVCache(num_layers=layers, num_heads=kv_heads, max_seq_len=1024, memory_size=config.get("budget"),
                            alpha_threshold=config.get("alpha"), buffer_size=config["buffer"],
                            min_tokens_per_head=config.get("min_per_head", 0), strategy=config["strategy"],
                            lookahead_steps=config["lookahead"], device="cpu")


# ---- one greedy run ---------------------------------------------------------------------------------

class Recorder:
    """What the reference's language model received (a forward pre-hook) and what each forward's
    compress() decided (wrapping the cache's own compress)."""

    def __init__(self, model, cache, config):
        self.calls, self.margins, self.evictions, self.retained = [], [], [], []
        self.prompt_log_beta = None  # every prompt token's, before the first eviction
        self.cache, self.config = cache, config
        self.handle = model.model.language_model.register_forward_pre_hook(self.hook, with_kwargs=True)
        compress = cache.compress

        def checked_compress():
            if self.prompt_log_beta is None:
                self.prompt_log_beta = torch.cat([b for _, b in streams(cache)])
            margin = decision_margin(cache, config)
            if margin is not None:
                self.margins.append(margin)
                self.evictions.append(len(self.retained))
            compress()
            self.retained.append(streams(cache))
        cache.compress = checked_compress

    def hook(self, module, args, kwargs):
        self.calls.append({k: kwargs[k] for k in ("inputs_embeds", "position_ids", "visual_pos_masks",
                                                  "deepstack_visual_embeds", "cache_position")})


@torch.no_grad()
def run(model, config: dict, prompt: dict) -> dict:
    text = model.model.language_model.config
    # The reference compresses only when its text config says so (trimkv's MMDU harness sets it).
    text.compress_memory = True
    text._attn_implementation = DENSE_ATTENTION if config["policy"] == "trimkv" else "flash_attention_2"
    attn_configs = {id(layer.self_attn.config) for layer in model.model.language_model.layers}
    if attn_configs != {id(text)}:
        raise SystemExit("the attention modules do not read the text config that was changed")
    cache = make_cache(config, text.num_hidden_layers, text.num_key_value_heads)
    rec = Recorder(model, cache, config)
    out = model(**prompt, past_key_values=cache, use_cache=True, cache_position=torch.arange(prompt["input_ids"].shape[1]))
    tokens, logits = [], []
    for step in range(GREEDY_TOKENS):
        step_logits = out.logits[0, -1].float()
        token = int(step_logits.argmax())
        tokens.append(token)
        logits.append(step_logits.clone())
        if step + 1 == GREEDY_TOKENS:
            break
        seen = cache.get_seq_length()
        out = model(input_ids=torch.tensor([[token]]), past_key_values=cache, use_cache=True,
                    cache_position=torch.tensor([seen]))
    rec.handle.remove()
    logits = torch.stack(logits)
    top2 = logits.topk(2, dim=-1).values
    return dict(tokens=tokens, logits=logits, calls=rec.calls, margins=rec.margins, evictions=rec.evictions,
                retained=rec.retained, prompt_log_beta=rec.prompt_log_beta, greedy_margin=float((top2[:, 0] - top2[:, 1]).min()))


def image_prompt(gen: torch.Generator) -> dict:
    tokens = tiny.QWEN3VL_PARITY[MODEL]["tokens"]
    t, h, w = IMAGE_GRID
    visual = t * (h // 2) * (w // 2)
    ids = torch.cat([torch.randint(0, tokens["image_token_id"], (TEXT_BEFORE,), generator=gen),
                     torch.tensor([tokens["vision_start_token_id"]]), torch.full((visual,), tokens["image_token_id"]),
                     torch.tensor([tokens["vision_end_token_id"]]),
                     torch.randint(0, tokens["image_token_id"], (TEXT_AFTER,), generator=gen)])
    vision = tiny.QWEN3VL_PARITY[MODEL]["vision"]
    patch = 3 * vision.get("temporal_patch_size", 2) * vision.get("patch_size", 16) ** 2
    return dict(input_ids=ids[None], pixel_values=torch.randn(t * h * w, patch, generator=gen),
                image_grid_thw=torch.tensor([IMAGE_GRID]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out.resolve()
    torch.set_num_threads(2)
    _trimkv_env.install()
    _trimkv_env.self_check()
    # Not a mask interface: HF's create_causal_mask then builds no mask, as for flash_attention_2.
    AttentionInterface.register(DENSE_ATTENTION, dense_flash_attention)

    base = tiny.random_model(Qwen3VLForConditionalGeneration, tiny.qwen3vl_parity_config(MODEL), SEED, torch.float32)
    tiny.perturb_norms(base.model.language_model, SEED)
    base.save_pretrained(out / "base")
    for i, gate_type in enumerate(("rg", "rg10")):
        write_gate_dir(out / f"gates-{gate_type}", gate_type, SEED + 1 + i)
    prompt = image_prompt(torch.Generator().manual_seed(SEED))
    prompt_len = prompt["input_ids"].shape[1]

    models = {g: load_reference(out / f"gates-{g}", out / "base") for g in ("rg", "rg10")}
    inputs, expected = None, {"prompt_tokens": prompt_len, "greedy_tokens": GREEDY_TOKENS, "configs": {}}
    for name, config in CONFIGS.items():
        result = run(models[config["gates"]], config, prompt)
        first = result["calls"][0]
        record = dict(inputs_embeds=first["inputs_embeds"][0].detach().clone(),
                      visual_mask=first["visual_pos_masks"][0].to(torch.uint8),
                      deepstack=torch.stack(first["deepstack_visual_embeds"]).clone(),
                      positions=torch.cat([c["position_ids"][:, 0] for c in result["calls"]], dim=1).clone(),
                      prompt_ids=prompt["input_ids"][0].clone())
        # Every configuration must have seen the same inputs: the prompt and its positions do not
        # depend on the cache (decode positions are the seen count plus the prompt's rope delta).
        if inputs is None:
            inputs = record
        elif any(not torch.equal(inputs[k], record[k]) for k in record):
            raise SystemExit(f"{name}: the language model's inputs differ from the first configuration's")
        if result["greedy_margin"] < MIN_MARGIN:
            raise SystemExit(f"{name}: greedy margin {result['greedy_margin']} below {MIN_MARGIN}; change SEED")
        margin = min(result["margins"], default=math.inf)
        if margin < MIN_DECISION_MARGIN:
            raise SystemExit(f"{name}: an eviction decided by {margin} (< {MIN_DECISION_MARGIN}); change SEED")
        evictions = result["evictions"]
        if not evictions or evictions[0] != 0 or len(evictions) < 3:
            raise SystemExit(f"{name}: evictions after forwards {evictions}; want one after the prefill and more")

        lengths = torch.tensor([[len(p) for p, _ in r] for r in result["retained"]], dtype=torch.int64)
        positions = torch.cat([p for r in result["retained"] for p, _ in r]).to(torch.int64)
        log_beta = torch.cat([b for r in result["retained"] for _, b in r]).to(torch.float32)
        span = [float(result["prompt_log_beta"].min()), float(result["prompt_log_beta"].max())]
        if not (-4.0 < span[0] < -1.0 and -1e-2 < span[1] < 0.0):
            raise SystemExit(f"{name}: the prompt's log beta spans {span}, not about [-2, -1e-3]")
        save_file({"tokens": torch.tensor(result["tokens"], dtype=torch.int64), "logits": result["logits"].contiguous(),
                   "retained_lengths": lengths, "retained_positions": positions, "retained_log_beta": log_beta},
                  out / f"{name}.safetensors")
        expected["configs"][name] = dict(config, gates_dir=f"gates-{config['gates']}", evictions=evictions,
                                         log_beta_span=span, min_decision_margin=margin, greedy_margin=result["greedy_margin"],
                                         tokens=result["tokens"])
        print(f"{name}: evictions after forwards {evictions}, decision margin {margin:.3g}, "
              f"greedy margin {result['greedy_margin']:.3g}, log beta span {span}, retained now {lengths[-1].tolist()}", flush=True)
    save_file({k: v.contiguous() for k, v in inputs.items()}, out / "inputs.safetensors")
    tiny.write_json(out / "expected.json", expected)


if __name__ == "__main__":
    main()
