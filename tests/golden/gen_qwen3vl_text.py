#!/usr/bin/env python3
"""Qwen3-VL text decoder references: the language model alone (model.model.language_model, then
model.lm_head), transformers 4.57.1, on the tiny parity models of _tiny_models.QWEN3VL_PARITY.

Writes, for each model name (gqa4, odd), into --out/<name>/:
  model/            the whole Qwen3VLForConditionalGeneration in fp32 (save_pretrained: config.json,
                    model.safetensors with the vision tower, which the text decoder must leave alone)
  cases.safetensors
    text_ids [T], text_positions [3, T], text_logits [T, V]
        (i) text only, with the position ids HF's get_rope_index computes (three equal rows)
    image_embeds [T, H], image_positions [3, T], image_mask [T] (uint8), deepstack [levels, N, H],
    image_logits [T, V]
        (ii) inputs_embeds with an image's visual embeddings scattered in at its pad tokens, the
        image's 3-row M-RoPE positions from get_rope_index (the rows differ) and DeepStack features
        for its N visual tokens
    chunk_sizes [F], decode_ids [K], chunked_positions [3, T + K], chunked_logits [T + K, V]
        (iii) case (ii) run through HF's DynamicCache as F forwards: the prompt in two chunks (the
        split falls inside the image, so DeepStack features straddle it), then K single tokens
        decode_ids at positions last + 1, last + 2, ... on all three rows (what generate does)
    greedy_prompt [P], greedy_ids [32]
        model.generate(do_sample=False, max_new_tokens=32) on a text prompt
    bf16_text_logits, bf16_image_logits
        cases (i) and (ii) with the model converted to bf16 (stored as bf16)
  expected.json     per model: the text config as transformers reads it (with whether lm_head is
                    actually tied) and the greedy margin (smallest top-1 minus top-2 logit along
                    the continuation)

Logits are float32 (bf16 where named). Every random input comes from a seeded generator.
"""
import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import DynamicCache, Qwen3VLForConditionalGeneration

import _tiny_models as tiny

INPUTS = []

IMAGE_GRID = (1, 6, 8)  # (t, h, w) patches: 3 x 4 = 12 visual tokens after the 2 x 2 merge
GREEDY_TOKENS = 32
DECODE_STEPS = 5


def logits_of(model, **kwargs) -> torch.Tensor:
    """The language model alone, then lm_head: [T, V] for batch 1."""
    out = model.model.language_model(**kwargs)
    return model.lm_head(out.last_hidden_state)[0]


def image_prompt(spec: dict, gen: torch.Generator) -> torch.Tensor:
    """text, <vision_start>, image pads, <vision_end>, text: what the processor lays out."""
    tokens = spec["tokens"]
    vocab = tokens["image_token_id"]  # ids below the special tokens are ordinary text
    n_visual = IMAGE_GRID[0] * (IMAGE_GRID[1] // 2) * (IMAGE_GRID[2] // 2)
    return torch.cat([torch.randint(0, vocab, (5,), generator=gen), torch.tensor([tokens["vision_start_token_id"]]),
                      torch.full((n_visual,), tokens["image_token_id"]), torch.tensor([tokens["vision_end_token_id"]]),
                      torch.randint(0, vocab, (6,), generator=gen)])


@torch.no_grad()
def cases_for(name: str, model, gen: torch.Generator) -> tuple[dict, dict]:
    spec = tiny.QWEN3VL_PARITY[name]
    lm = model.model.language_model
    hidden = spec["text"]["hidden_size"]
    vocab = spec["tokens"]["image_token_id"]
    out = {}

    # (i) text only.
    ids = torch.randint(0, vocab, (1, 23), generator=gen)
    positions, _ = model.model.get_rope_index(ids, None, None, torch.ones_like(ids))
    out["text_ids"] = ids[0]
    out["text_positions"] = positions[:, 0]
    out["text_logits"] = logits_of(model, input_ids=ids, position_ids=positions)

    # (ii) an image: its visual embeddings replace the pad tokens' embeddings; DeepStack features
    # are added after the first layers at the same positions.
    ids = image_prompt(spec, gen)[None]
    mask = ids == spec["tokens"]["image_token_id"]
    n_visual = int(mask.sum())
    positions, _ = model.model.get_rope_index(ids, torch.tensor([IMAGE_GRID]), None, torch.ones_like(ids))
    assert not torch.equal(positions[0], positions[1]) and not torch.equal(positions[1], positions[2])
    embeds = lm.embed_tokens(ids).clone()
    embeds[mask] = 0.5 * torch.randn(n_visual, hidden, generator=gen)
    levels = len(spec["vision"]["deepstack_visual_indexes"])
    deepstack = 0.5 * torch.randn(levels, n_visual, hidden, generator=gen)
    image_kwargs = dict(inputs_embeds=embeds, position_ids=positions, visual_pos_masks=mask,
                        deepstack_visual_embeds=list(deepstack))
    out["image_embeds"] = embeds[0]
    out["image_positions"] = positions[:, 0]
    out["image_mask"] = mask[0].to(torch.uint8)
    out["deepstack"] = deepstack
    out["image_logits"] = logits_of(model, **image_kwargs)

    # (iii) the same prompt through HF's cache: two chunks split inside the image, then single
    # tokens at the next positions on all three rows.
    T = ids.shape[1]
    split = int(mask[0].nonzero()[n_visual // 2])
    decode_ids = torch.randint(0, vocab, (DECODE_STEPS,), generator=gen)
    last = int(positions.max())
    decode_positions = (last + 1 + torch.arange(DECODE_STEPS)).view(1, 1, -1).expand(3, 1, -1)
    all_positions = torch.cat([positions, decode_positions], dim=2)
    all_embeds = torch.cat([embeds, lm.embed_tokens(decode_ids[None])], dim=1)
    all_mask = torch.cat([mask, torch.zeros(1, DECODE_STEPS, dtype=torch.bool)], dim=1)
    sizes = [split, T - split] + [1] * DECODE_STEPS
    cache = DynamicCache(config=lm.config)
    chunks, start, visual_seen = [], 0, 0
    for size in sizes:
        end = start + size
        chunk_mask = all_mask[:, start:end]
        n = int(chunk_mask.sum())
        extra = {}
        if n > 0:
            extra = dict(visual_pos_masks=chunk_mask,
                         deepstack_visual_embeds=list(deepstack[:, visual_seen:visual_seen + n]))
        chunks.append(logits_of(model, inputs_embeds=all_embeds[:, start:end], position_ids=all_positions[:, :, start:end],
                                past_key_values=cache, use_cache=True, cache_position=torch.arange(start, end), **extra))
        start, visual_seen = end, visual_seen + n
    assert visual_seen == n_visual
    out["chunk_sizes"] = torch.tensor(sizes)
    out["decode_ids"] = decode_ids
    out["chunked_positions"] = all_positions[:, 0]
    out["chunked_logits"] = torch.cat(chunks)
    # HF against itself: the chunked prompt reproduces the one-shot logits.
    torch.testing.assert_close(out["chunked_logits"][:T], out["image_logits"], rtol=1e-4, atol=1e-5)

    # Greedy continuation of a text prompt through the full generation API.
    prompt = torch.randint(0, vocab, (1, 9), generator=gen)
    generated = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                               max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS, output_logits=True,
                               return_dict_in_generate=True, pad_token_id=0)
    new_ids = generated.sequences[0, prompt.shape[1]:]
    assert new_ids.numel() == GREEDY_TOKENS
    top2 = torch.stack(generated.logits)[:, 0].float().topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    # A continuation decided by a near-tie would test rounding, not the model.
    assert margin > 1e-4, f"{name}: greedy margin {margin} too small for an exact comparison; change the prompt seed"
    out["greedy_prompt"] = prompt[0]
    out["greedy_ids"] = new_ids
    return out, {"greedy_min_margin": margin}


@torch.no_grad()
def bf16_cases(model, cases: dict) -> dict:
    model = model.to(torch.bfloat16)
    lm = model.model.language_model
    text = logits_of(model, input_ids=cases["text_ids"][None], position_ids=cases["text_positions"][:, None])
    mask = cases["image_mask"].bool()[None]
    image = logits_of(model, inputs_embeds=cases["image_embeds"][None].to(torch.bfloat16),
                      position_ids=cases["image_positions"][:, None], visual_pos_masks=mask,
                      deepstack_visual_embeds=list(cases["deepstack"].to(torch.bfloat16)))
    assert lm.embed_tokens.weight.dtype == torch.bfloat16
    return {"bf16_text_logits": text, "bf16_image_logits": image}


def config_facts(model) -> dict:
    c = model.config.text_config
    tied = model.lm_head.weight.data_ptr() == model.model.language_model.embed_tokens.weight.data_ptr()
    facts = {k: getattr(c, k) for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                        "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
                                        "max_position_embeddings", "rms_norm_eps", "rope_theta")}
    return dict(facts, mrope_section=c.rope_scaling["mrope_section"], lm_head_tied=tied)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    torch.set_num_threads(2)
    expected = {}
    for seed, name in enumerate(tiny.QWEN3VL_PARITY, start=40):
        model = tiny.random_model(Qwen3VLForConditionalGeneration, tiny.qwen3vl_parity_config(name), seed,
                                  torch.float32)
        tiny.perturb_norms(model.model.language_model, seed)
        model.save_pretrained(out / name / "model")
        gen = torch.Generator().manual_seed(seed)
        cases, facts = cases_for(name, model, gen)
        cases.update(bf16_cases(model, cases))
        save_file({k: v.contiguous() for k, v in cases.items()}, out / name / "cases.safetensors")
        expected[name] = dict(facts, text_config=config_facts(model))
    tiny.write_json(out / "expected.json", expected)


if __name__ == "__main__":
    main()
