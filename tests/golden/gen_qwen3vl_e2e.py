#!/usr/bin/env python3
"""End-to-end Qwen3-VL references: transformers 4.57.1 Qwen3VLProcessor + Qwen3VLForConditionalGeneration
.generate(do_sample=False, max_new_tokens=32) on complete tiny snapshots, for
tests/app/pipeline_golden_test.cpp (app::Engine from files to tokens).

The models are the text-parity shapes of _tiny_models.QWEN3VL_PARITY (gqa4, odd) with the real
vocabulary and special-token ids, so the real Qwen3 tokenizer and the real Instruct chat template
(tests/data/qwen3vl/instruct.chat_template.json) apply; processor configs have the hub's patch
geometry and small pixel limits. Media are random uint8 frames, saved as frames safetensors
(vision/frames.h) so the C++ side reads exactly the pixels the HF processor got.

Writes into --out:
  media/<file>.safetensors   the images and videos of the cases
  <model>/model/             the snapshot (fp32 weights, configs, tokenizer, chat template)
  <model>/logits.safetensors <case>.<turn>: the first generated step's logits [V] (float32)
  expected.json              per model and case: the turns (messages in HF's schema, media by file
                             name) and per turn the generated ids and the greedy margin (smallest
                             top-1 minus top-2 logit along the continuation)

A multi-turn case runs one generate() per turn; each later turn's messages carry the earlier
answers as decode(skip_special_tokens=True) of the generated ids, as a chat application would.
"""
import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
from transformers.video_utils import VideoMetadata

import _tiny_models as tiny

INPUTS = [
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer.json",
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer_config.json",
    "tests/data/qwen3vl/instruct.chat_template.json",
    "tests/golden/_tiny_models.py",
]

ROOT = Path(__file__).resolve().parents[2]
GREEDY_TOKENS = 32
MIN_MARGIN = 1e-4
LOGIT_SPREAD = 4.0

# Hub processor settings with small pixel limits: images get 4..16 merged tokens, videos 4..40
# patches-of-32 over all their frames.
PROCESSOR = dict(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
PREPROCESSOR = dict(PROCESSOR, image_processor_type="Qwen2VLImageProcessorFast", processor_class="Qwen3VLProcessor",
                    size={"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 16})
VIDEO_PREPROCESSOR = dict(PROCESSOR, video_processor_type="Qwen3VLVideoProcessor", processor_class="Qwen3VLProcessor",
                          size={"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 40})
REAL_TOKENS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
                   vision_end_token_id=151653)

# Media: images (height, width); videos (frames, height, width, fps). An odd frame count makes the
# processor pad the last temporal group.
MEDIA = {
    "image_a": (70, 100),
    "image_b": (130, 60),
    "image_c": (96, 96),
    "video_a": (9, 64, 96, 2.0),
}


def text(s: str) -> dict:
    return {"type": "text", "text": s}


def image(name: str) -> dict:
    return {"type": "image", "file": name}


def video(name: str) -> dict:
    return {"type": "video", "file": name}


# Each case is a list of turns; a turn is the messages added before generating.
CASES = {
    "text_only": [[{"role": "user", "content": [text("Describe the weather in Paris in one sentence.")]}]],
    "one_image": [[{"role": "user", "content": [image("image_a"), text("What is in this picture?")]}]],
    "two_images": [[{"role": "user", "content": [image("image_a"), image("image_b"), text("Compare them.")]}]],
    "one_video": [[{"role": "user", "content": [video("video_a"), text("What happens?")]}]],
    "two_turns_image_in_second": [
        [{"role": "user", "content": [text("Hi! Can you look at images?")]}],
        [{"role": "user", "content": [image("image_c"), text("Describe it.")]}],
    ],
}


def model_config(name: str) -> Qwen3VLConfig:
    spec = tiny.QWEN3VL_PARITY[name]
    text_config = dict(spec["text"], vocab_size=151936)
    return Qwen3VLConfig(text_config=text_config, vision_config=dict(spec["vision"]),
                         tie_word_embeddings=text_config["tie_word_embeddings"], **REAL_TOKENS)


def save_snapshot(out: Path, model) -> None:
    model.save_pretrained(out)
    tokenizer_dir = Path(os.environ["TRIMVL_SHARED_DIR"]) / "assets" / "qwen3-tokenizer"
    for name in tiny.TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, out / name)
    shutil.copyfile(ROOT / "tests/data/qwen3vl/instruct.chat_template.json", out / "chat_template.json")
    tiny.write_json(out / "preprocessor_config.json", PREPROCESSOR)
    tiny.write_json(out / "video_preprocessor_config.json", VIDEO_PREPROCESSOR)


def make_media(out: Path) -> dict:
    """Random frames per MEDIA entry, saved as frames safetensors; returns name -> (frames, fps)."""
    rng = np.random.default_rng(7)
    (out / "media").mkdir(parents=True)
    media = {}
    for name, shape in MEDIA.items():
        if len(shape) == 2:
            frames = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            save_file({"frames": torch.from_numpy(frames)}, out / "media" / f"{name}.safetensors")
            media[name] = (frames, None)
        else:
            n, h, w, fps = shape
            frames = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
            save_file({"frames": torch.from_numpy(frames)}, out / "media" / f"{name}.safetensors",
                      metadata={"fps": repr(fps)})
            media[name] = (frames, fps)
    return media


def hf_messages(messages: list) -> list:
    """The template's schema: media items without file names (the processor gets the pixels)."""
    return [{"role": m["role"], "content": [{"type": c["type"]} if c["type"] != "text" else c for c in m["content"]]}
            for m in messages]


@torch.no_grad()
def generate(model, processor, messages: list, media: dict) -> tuple[list, torch.Tensor, float]:
    rendered = processor.apply_chat_template(hf_messages(messages), tokenize=False, add_generation_prompt=True)
    items = [c for m in messages for c in m["content"] if c["type"] != "text"]
    images = [media[c["file"]][0] for c in items if c["type"] == "image"]
    videos = [media[c["file"]] for c in items if c["type"] == "video"]
    kwargs = {}
    if images:
        kwargs["images"] = images
    if videos:
        kwargs.update(videos=[v for v, _ in videos],
                      video_metadata=[VideoMetadata(total_num_frames=len(v), fps=fps) for v, fps in videos])
    inputs = processor(text=[rendered], return_tensors="pt", **kwargs)
    generated = model.generate(**inputs, do_sample=False, max_new_tokens=GREEDY_TOKENS, output_logits=True,
                               return_dict_in_generate=True)
    new_ids = generated.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    logits = torch.stack(generated.logits)[:, 0].float()
    top2 = logits.topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    return new_ids, logits[0], margin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    torch.set_num_threads(2)
    media = make_media(out)
    expected = {}
    for seed, name in enumerate(tiny.QWEN3VL_PARITY, start=70):
        model = tiny.random_model(Qwen3VLForConditionalGeneration, model_config(name), seed, torch.float32)
        tiny.perturb_norms(model.model.language_model, seed)
        # Over the real 151936-token vocabulary the top two logits of a random model come close
        # often; a wider final norm spreads all logits apart (the same argmax, larger margins).
        with torch.no_grad():
            model.model.language_model.norm.weight.mul_(LOGIT_SPREAD)
        save_snapshot(out / name / "model", model)
        processor = Qwen3VLProcessor.from_pretrained(out / name / "model")
        logits, cases = {}, {}
        for case, turns in CASES.items():
            messages, records = [], []
            for turn_index, turn in enumerate(turns):
                messages += turn
                ids, first_logits, margin = generate(model, processor, messages, media)
                # A continuation decided by a near-tie would test rounding, not the pipeline.
                if margin < MIN_MARGIN:
                    raise SystemExit(f"{name}/{case}: greedy margin {margin} below {MIN_MARGIN}; change the seed")
                answer = processor.tokenizer.decode(ids, skip_special_tokens=True)
                messages.append({"role": "assistant", "content": [text(answer)]})
                records.append({"messages": turn, "ids": ids, "answer": answer, "min_margin": margin})
                logits[f"{case}.{turn_index}"] = first_logits
            cases[case] = records
        save_file({k: v.contiguous() for k, v in logits.items()}, out / name / "logits.safetensors")
        expected[name] = cases
    tiny.write_json(out / "expected.json", expected)


if __name__ == "__main__":
    main()
