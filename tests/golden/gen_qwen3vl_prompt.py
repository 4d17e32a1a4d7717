#!/usr/bin/env python3
"""Reference Qwen3-VL prompts and sampling runs from transformers 4.57.1, for
tests/language/qwen3vl_prompt_golden_test.cpp.

Prompts: the real Qwen3-VL chat templates (Instruct and Thinking, in tests/data/qwen3vl/) rendered
by `Qwen3VLProcessor.apply_chat_template(tokenize=False)`, then the processor (real Qwen3
tokenizer, fast torchvision image/video processors with the hub's patch 16 / merge 2 / temporal 2
/ mean-std 0.5 and small pixel limits) on random images and videos given as frame arrays with fps
metadata, then `model.model.get_rope_index` of a tiny random Qwen3-VL (it reads only config ids).
Writes into --out:
  config.json    the tiny Qwen3-VL's config (token ids, merge size, max_position_embeddings)
  prompts.json   per case: the messages (HF's schema: role, content a string or items
                 text|image|video, optional reasoning_content), template style and options, the
                 rendered text, input_ids, image grids, per video its grid, sampled frame indices,
                 fps and the group timestamps the processor put in the prompt
                 (_calculate_timestamps), position ids (3 x L) and the rope delta.

Sampling: `generate()` of a tiny random Qwen3 LLM (256 tokens; its lm_head scaled so distributions
are peaked enough for top-k/top-p/min-p to bite) under several generation_config.json files, after
torch.manual_seed(seed), on the CPU. Writes:
  sampling.json          per case: generation_config (the file's JSON), seed, prompt ids, the
                         generated ids (EOS included, as HF returns them)
  sampling.safetensors   <case>.logits (steps x vocab, the raw float32 logits each step's
                         processors received) and <case>.scores (what the processor list returned)
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (AutoTokenizer, GenerationConfig, Qwen3ForCausalLM, Qwen3VLForConditionalGeneration,
                          Qwen3VLProcessor)
from transformers.models.qwen2_vl.image_processing_qwen2_vl_fast import Qwen2VLImageProcessorFast
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
from transformers.video_utils import VideoMetadata

import _tiny_models as tiny

INPUTS = [
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer.json",
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer_config.json",
    "tests/data/qwen3vl/instruct.chat_template.json",
    "tests/data/qwen3vl/thinking.chat_template.json",
]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {style: json.loads((ROOT / f"tests/data/qwen3vl/{style}.chat_template.json").read_text())["chat_template"]
             for style in ("instruct", "thinking")}

# Hub values except the pixel limits, which keep grids tiny: images get 4..16 merged tokens,
# videos 4..40 patches-of-32 over all frames together (the video processor counts frames too).
PROCESSOR = dict(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
IMAGE_SIZE = {"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 16}
VIDEO_SIZE = {"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 40}


def text(s):
    return {"type": "text", "text": s}


IMAGE = {"type": "image"}
VIDEO = {"type": "video"}

# Media are (height, width) for images and (frames, height, width, fps) for videos, in the order
# the rendered text mentions them. fps 2 puts frame pairs at 0.25 s steps, so group timestamps
# land on exact .x5 ties that "{:.1f}" must round half-to-even.
CASES = [
    dict(name="text_only", messages=[{"role": "user", "content": "Describe the weather in Paris in one sentence."}]),
    dict(name="one_image", images=[(70, 100)],
         messages=[{"role": "user", "content": [IMAGE, text("What is in this picture?")]}]),
    dict(name="two_images_of_different_sizes", images=[(70, 100), (130, 60)],
         messages=[{"role": "user", "content": [text("Compare "), IMAGE, text(" and "), IMAGE, text(".")]}]),
    dict(name="one_video_odd_frames", videos=[(9, 64, 96, 2.0)],
         messages=[{"role": "user", "content": [text("Watch this:"), VIDEO, text("What happens?")]}]),
    dict(name="two_turns_image_in_second", images=[(96, 96)],
         messages=[{"role": "user", "content": "Hi! Can you look at images?"},
                   {"role": "assistant", "content": "Yes, send one."},
                   {"role": "user", "content": [IMAGE, text("Describe it.")]}]),
    dict(name="system_prompt", images=[(64, 64)],
         messages=[{"role": "system", "content": "You are a helpful assistant."},
                   {"role": "user", "content": [IMAGE, text("Caption?")]}]),
    dict(name="image_and_video_mixed", images=[(50, 120)], videos=[(40, 64, 64, 10.0), (5, 48, 80, 1.0)],
         messages=[{"role": "system", "content": [text("Answer briefly.")]},
                   {"role": "user", "content": [VIDEO, text("then"), IMAGE, VIDEO, text("Which came first?")]},
                   {"role": "assistant", "content": [text("The first clip.")]},
                   {"role": "user", "content": "Why?"}]),
    dict(name="vision_ids", add_vision_id=True, images=[(64, 64), (64, 64)], videos=[(6, 64, 64, 2.0)],
         messages=[{"role": "user", "content": [IMAGE, VIDEO, text(" vs "), IMAGE]}]),
    dict(name="instruct_keeps_think_text",
         messages=[{"role": "user", "content": "2+2?"},
                   {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
                   {"role": "user", "content": "And 3+3?"}]),
    dict(name="no_generation_prompt", add_generation_prompt=False, images=[(64, 96)],
         messages=[{"role": "user", "content": [IMAGE, text("Name it.")]},
                   {"role": "assistant", "content": "A cat."}]),
    dict(name="unicode_text", images=[(64, 64)],
         messages=[{"role": "user", "content": [text("Qu'est-ce que c'est ? 这是什么？🙂\n"), IMAGE,
                                                 text("  trailing spaces  ")]}]),
    dict(name="thinking_multi_turn", style="thinking", images=[(64, 64)],
         messages=[{"role": "user", "content": "What is 2+2?"},
                   {"role": "assistant", "content": "<think>\nTwo and two.\n</think>\n\nIt is 4."},
                   {"role": "user", "content": [IMAGE, text("And what is this?")]}]),
    dict(name="thinking_continue_with_reasoning", style="thinking", add_generation_prompt=False,
         add_vision_id=True, images=[(64, 64), (64, 64)],
         messages=[{"role": "system", "content": [text("Look first: "), IMAGE]},
                   {"role": "user", "content": [IMAGE, text("Same picture?")]},
                   {"role": "assistant", "reasoning_content": "\nCompare them.\n", "content": "\nYes."}]),
    dict(name="thinking_tool_response_user", style="thinking", videos=[(4, 64, 64, 2.0)],
         messages=[{"role": "user", "content": [VIDEO, text("Summarize.")]},
                   {"role": "assistant", "content": "<think>plan</think>Calling a tool."},
                   {"role": "system", "content": "Tools answer in tags."},
                   {"role": "user", "content": "<tool_response>\nok\n</tool_response>"}]),
    dict(name="thinking_empty_reasoning", style="thinking", add_generation_prompt=False,
         messages=[{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello!"}]),
]


def processor_for(style: str) -> Qwen3VLProcessor:
    tokenizer = AutoTokenizer.from_pretrained(Path(os.environ["TRIMVL_SHARED_DIR"]) / "assets" / "qwen3-tokenizer")
    return Qwen3VLProcessor(image_processor=Qwen2VLImageProcessorFast(size=IMAGE_SIZE, **PROCESSOR),
                            tokenizer=tokenizer,
                            video_processor=Qwen3VLVideoProcessor(size=VIDEO_SIZE, **PROCESSOR),
                            chat_template=TEMPLATES[style])


def prompt_case(case: dict, processors: dict, model, rng) -> dict:
    style = case.get("style", "instruct")
    processor = processors[style]
    add_generation_prompt = case.get("add_generation_prompt", True)
    add_vision_id = case.get("add_vision_id", False)
    rendered = processor.apply_chat_template(case["messages"], tokenize=False,
                                             add_generation_prompt=add_generation_prompt, add_vision_id=add_vision_id)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in case.get("images", [])]
    videos = [rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for n, h, w, _ in case.get("videos", [])]
    metadata = [VideoMetadata(total_num_frames=n, fps=fps) for n, _, _, fps in case.get("videos", [])]
    kwargs = {}
    if images:
        kwargs["images"] = images
    if videos:
        kwargs.update(videos=videos, video_metadata=metadata, return_metadata=True)
    out = processor(text=[rendered], **kwargs)
    input_ids = torch.tensor(out["input_ids"])
    image_grid = torch.as_tensor(out["image_grid_thw"]) if images else None
    video_grid = torch.as_tensor(out["video_grid_thw"]) if videos else None
    positions, delta = model.model.get_rope_index(input_ids, image_grid, video_grid, torch.ones_like(input_ids))
    record = {
        "name": case["name"], "style": style, "add_generation_prompt": add_generation_prompt,
        "add_vision_id": add_vision_id, "messages": case["messages"], "text": rendered,
        "input_ids": input_ids[0].tolist(),
        "image_grids": image_grid.tolist() if images else [],
        "videos": [], "position_ids": positions[:, 0, :].tolist(), "rope_delta": int(delta.item()),
    }
    for i, meta in enumerate(out.get("video_metadata", [])):
        times = processor._calculate_timestamps(meta.frames_indices, meta.fps, processor.video_processor.merge_size)
        record["videos"].append({"grid": video_grid[i].tolist(), "frame_indices": meta.frames_indices.tolist(),
                                 "fps": meta.fps, "group_times": times})
    return record


# Generation settings as generation_config.json files state them; absent keys take
# GenerationConfig's defaults (top_k 50, temperature 1, top_p 1), which the C++ loader must know.
SAMPLING_CASES = [
    dict(name="hub_qwen3vl", seed=11, config={"do_sample": True, "eos_token_id": [151, 7], "top_k": 20, "top_p": 0.8,
                                              "repetition_penalty": 1.0, "temperature": 0.7}),
    dict(name="defaults_top_k_50_with_min_p", seed=12,
         config={"do_sample": True, "eos_token_id": 3, "temperature": 1.3, "top_p": 0.9, "min_p": 0.05,
                 "repetition_penalty": 1.25}),
    dict(name="temperature_only", seed=13,
         config={"do_sample": True, "eos_token_id": [2, 9], "top_k": 0, "top_p": 1.0, "temperature": 0.5}),
    dict(name="greedy_with_penalty", seed=14,
         config={"do_sample": False, "eos_token_id": 2, "repetition_penalty": 1.5, "temperature": 0.7, "top_k": 20}),
    dict(name="top_k_min_p_boosting_penalty", seed=15,
         config={"do_sample": True, "eos_token_id": [4, 6], "top_k": 5, "min_p": 0.2, "repetition_penalty": 0.8}),
]
MAX_NEW_TOKENS = 24


def sampling_model():
    config = tiny.qwen3_config()
    config.tie_word_embeddings = False
    torch.manual_seed(20261124)
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(60.0)
    return model


def sampling_runs(out: Path) -> None:
    model = sampling_model()
    prompt = torch.tensor([[17, 42, 42, 99, 3, 250, 17, 128, 64, 64, 7, 200]])
    cases, tensors = [], {}
    for case in SAMPLING_CASES:
        config = GenerationConfig(**case["config"], pad_token_id=0, max_new_tokens=MAX_NEW_TOKENS)
        torch.manual_seed(case["seed"])
        result = model.generate(prompt, attention_mask=torch.ones_like(prompt), generation_config=config,
                                output_logits=True, output_scores=True, return_dict_in_generate=True)
        generated = result.sequences[0, prompt.shape[1]:].tolist()
        tensors[case["name"] + ".logits"] = torch.cat(result.logits).contiguous()
        tensors[case["name"] + ".scores"] = torch.cat(result.scores).contiguous()
        cases.append({"name": case["name"], "seed": case["seed"], "generation_config": case["config"],
                      "prompt_ids": prompt[0].tolist(), "generated_ids": generated})
    save_file(tensors, out / "sampling.safetensors")
    tiny.write_json(out / "sampling.json", {"max_new_tokens": MAX_NEW_TOKENS, "cases": cases})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model = tiny.random_model(Qwen3VLForConditionalGeneration, tiny.qwen3vl_config(), seed=5, dtype=torch.float32)
    model.config.to_json_file(args.out / "config.json")
    processors = {style: processor_for(style) for style in TEMPLATES}
    rng = np.random.default_rng(20261123)
    prompts = [prompt_case(case, processors, model, rng) for case in CASES]
    tiny.write_json(args.out / "prompts.json", {"cases": prompts})
    sampling_runs(args.out)


if __name__ == "__main__":
    main()
