#!/usr/bin/env python3
"""Qwen3-VL vision references: the image and video processors (transformers 4.57.1 on torchvision
0.26, the "fast" classes the hub configs name, on the CPU) and the vision encoder.

Writes into --out:
  processors/<name>/   preprocessor_config.json or video_preprocessor_config.json, loaded here with
                       from_pretrained exactly as the C++ side reads them
  media/<name>.safetensors   uint8 RGB frames in vision/frames.h's format (fps in __metadata__ for
                       videos): numpy-made noise and smooth images, odd sizes and aspect ratios
  processed.safetensors      per case: pixel_values (float32) as the reference returns them
  smart_resize.json    smart_resize (image and video rules) on a grid of sizes: (h, w) or the error
  models/<name>/       a Qwen3VLForConditionalGeneration (fp32, random) saved with save_pretrained
  encoder.safetensors  per model and case: pixel_values, image_embeds and the DeepStack features of
                       model.model.visual(pixel_values, grid_thw) in float32 and in bfloat16, and the
                       bf16 position embeddings and float32 rotary cos/sin the encoder adds
  cases.json           every case: inputs, grids, sampled frame indices, group timestamps, and the
                       error the reference raised where it refused the input
"""
import argparse
import copy
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (AutoTokenizer, Qwen2VLImageProcessorFast, Qwen3VLForConditionalGeneration,
                          Qwen3VLProcessor)
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as image_smart_resize
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize as video_smart_resize
from transformers.video_utils import VideoMetadata

import _tiny_models as tiny

INPUTS = [
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer.json",
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer_config.json",
]

# ---- processor configurations (written as JSON, read back with from_pretrained) ----------------

IMAGE_CONFIGS = {
    "hub": tiny.QWEN3VL_PREPROCESSOR,
    # The legacy min_pixels / max_pixels keys override size (4.57 __init__ and
    # _further_process_kwargs); small bounds put large images on the max_pixels path.
    "small": dict(tiny.QWEN3VL_PREPROCESSOR, min_pixels=4096, max_pixels=50176),
    # An empty file: the class defaults (patch 14 -> factor 28, OpenAI CLIP mean/std, 56^2..28^2*1280),
    # so the fused normalisation runs with constants other than 0.5.
    "defaults": {},
}
VIDEO_CONFIGS = {
    "hub": tiny.QWEN3VL_VIDEO_PREPROCESSOR,
    # Frame caps and a small pixel budget: sampling clamps to max_frames and resizing takes the
    # max_pixels path.
    "small": dict(tiny.QWEN3VL_VIDEO_PREPROCESSOR, size={"shortest_edge": 4096, "longest_edge": 40000}, fps=3,
                  min_frames=3, max_frames=7),
    # A fixed frame count instead of a rate (num_frames excludes fps, so fps is null).
    "count": dict(tiny.QWEN3VL_VIDEO_PREPROCESSOR, num_frames=5, fps=None),
    "defaults": {},
}


def write_processor(out: Path, kind: str, name: str, config: dict) -> Path:
    d = out / "processors" / f"{kind}-{name}"
    d.mkdir(parents=True)
    file = "preprocessor_config.json" if kind == "image" else "video_preprocessor_config.json"
    tiny.write_json(d / file, config)
    return d


# ---- media ---------------------------------------------------------------------------------------

def noise(rng: np.random.Generator, *shape) -> np.ndarray:
    return rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def smooth(rng: np.random.Generator, height: int, width: int, phase: float = 0.0) -> np.ndarray:
    """Gradients and low-frequency waves: the photo-like case, where resampling error would show as
    bias rather than hide in noise."""
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    k = rng.uniform(2, 9, size=3)
    channels = [0.5 + 0.45 * np.sin(k[c] * (x + 0.6 * y) * math.pi + phase + c) * np.cos(3 * y - x) for c in range(3)]
    return np.clip(np.rint(np.stack(channels, -1) * 255), 0, 255).astype(np.uint8)


def save_frames(path: Path, frames: np.ndarray, fps: float | None) -> None:
    metadata = {"fps": repr(float(fps))} if fps is not None else None
    save_file({"frames": torch.from_numpy(np.ascontiguousarray(frames))}, path, metadata=metadata)


def chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def tchw(video: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(video).permute(0, 3, 1, 2).contiguous()


# ---- smart_resize --------------------------------------------------------------------------------

def outcome(fn, *args):
    try:
        return {"size": list(fn(*args))}
    except ValueError as e:
        return {"error": str(e)}


def smart_resize_table() -> dict:
    rng = random.Random(5)
    sizes = [(1, 1), (1, 200), (1, 201), (2, 400), (3, 700), (10, 10), (16, 16), (31, 33), (32, 32), (48, 48),
             (100, 2000), (2000, 100), (480, 640), (1080, 1920), (4000, 3000), (37, 513), (1000, 17), (17, 1000),
             (16384, 16384), (16384, 82), (7, 1401)]
    sizes += [(rng.randint(1, 3000), rng.randint(1, 3000)) for _ in range(150)]
    sizes += [(rng.randint(1, 64), rng.randint(1, 64)) for _ in range(40)]
    bounds = [(32, 65536, 16777216), (32, 4096, 50176), (28, 56 * 56, 28 * 28 * 1280), (16, 256, 1000000)]
    image = [dict(height=h, width=w, factor=f, min_pixels=lo, max_pixels=hi, **outcome(image_smart_resize, h, w, f, lo, hi))
             for h, w in sizes for f, lo, hi in bounds]
    video_bounds = [(2, 32, 4096, 25165824), (2, 32, 4096, 40000), (2, 32, 131072, 786432)]
    frame_counts = [0, 1, 2, 3, 4, 7, 8, 31, 768]
    video = []
    for h, w in sizes[::3]:
        for n in frame_counts[rng.randint(0, len(frame_counts) - 1):][:3]:
            for t, f, lo, hi in video_bounds:
                video.append(dict(num_frames=n, height=h, width=w, temporal_factor=t, factor=f, min_pixels=lo,
                                  max_pixels=hi, **outcome(video_smart_resize, n, h, w, t, f, lo, hi)))
    return {"image": image, "video": video}


# ---- processors ----------------------------------------------------------------------------------

def image_cases(rng: np.random.Generator, out: Path, processed: dict) -> list:
    images = {
        "noise_1x1": noise(rng, 1, 1),
        "noise_37x513": noise(rng, 37, 513),
        "smooth_480x640": smooth(rng, 480, 640),
        "noise_1000x17": noise(rng, 1000, 17),
        "smooth_2x400": smooth(rng, 2, 400),         # aspect ratio exactly 200: allowed
        "noise_3x700": noise(rng, 3, 700),           # aspect ratio 233: refused
        "noise_900x700": noise(rng, 900, 700),       # over the small config's max_pixels
        "smooth_64x96": smooth(rng, 64, 96, 1.0),    # already a multiple of 32: no resampling
        "smooth_75x75": smooth(rng, 75, 75, 2.0),
        "noise_80x112": noise(rng, 80, 112),         # 80 / 32 = 2.5: Python rounds to even (64, not 96)
    }
    for name, image in images.items():
        save_frames(out / "media" / f"{name}.safetensors", image, None)
    plan = [("hub", ["noise_1x1", "noise_37x513", "smooth_480x640", "noise_1000x17", "smooth_2x400", "noise_3x700"]),
            ("small", ["noise_900x700", "smooth_64x96", "noise_37x513", "noise_80x112"]),
            ("defaults", ["noise_37x513", "smooth_75x75"])]
    cases = []
    for config_name, names in plan:
        d = write_processor(out, "image", config_name, IMAGE_CONFIGS[config_name])
        processor = Qwen2VLImageProcessorFast.from_pretrained(d)
        assert processor.__class__.__name__ == "Qwen2VLImageProcessorFast"
        for name in names:
            case = dict(name=f"image/{config_name}/{name}", config=f"image-{config_name}", media=[name])
            try:
                result = processor(images=[chw(images[name])], input_data_format="channels_first", return_tensors="pt")
            except ValueError as e:
                cases.append(dict(case, error=str(e)))
                continue
            processed[case["name"]] = result["pixel_values"]
            cases.append(dict(case, grids=result["image_grid_thw"].tolist()))
    # Several images in one call: HF groups them by shape for resizing and restores their order.
    processor = Qwen2VLImageProcessorFast.from_pretrained(out / "processors" / "image-small")
    names = ["smooth_64x96", "noise_37x513", "smooth_64x96", "smooth_75x75"]
    result = processor(images=[chw(images[n]) for n in names], input_data_format="channels_first", return_tensors="pt")
    case = dict(name="image/small/batch", config="image-small", media=names, grids=result["image_grid_thw"].tolist())
    processed[case["name"]] = result["pixel_values"]
    cases.append(case)
    return cases


def video_cases(rng: np.random.Generator, out: Path, processed: dict, processor_for_timestamps) -> list:
    def clip(frames, height, width, kind="smooth"):
        if kind == "noise":
            return noise(rng, frames, height, width)
        return np.stack([smooth(rng, height, width, 0.3 * i) for i in range(frames)])

    videos = {  # name: (frames, fps)
        "v15_48x64": (clip(15, 48, 64), 5.0),
        "v9_48x64": (clip(9, 48, 64, "noise"), 2.0),        # 9 sampled frames: the last is repeated
        "v30_40x72": (clip(30, 40, 72), 29.97),             # fewer than min_frames by rate: 4
        "v40_32x32": (clip(40, 32, 32, "noise"), 10.0),
        "v50_96x128": (clip(50, 96, 128), 10.0),
        "v1_64x64": (clip(1, 64, 64), 1.0),                 # one frame: below temporal_patch_size
        "v6_20x20": (clip(6, 20, 20), 4.0),                 # frames smaller than the 32 px factor
        "v7_33x250": (clip(7, 33, 250, "noise"), 24.0),
        "v8_80x112": (clip(8, 80, 112), 4.0),              # 80 / 32 = 2.5 rounds to even
    }
    for name, (frames, fps) in videos.items():
        save_frames(out / "media" / f"{name}.safetensors", frames, fps)
    plan = [("hub", ["v15_48x64", "v9_48x64", "v30_40x72", "v40_32x32", "v1_64x64", "v6_20x20", "v7_33x250",
                     "v8_80x112"]),
            ("small", ["v50_96x128", "v9_48x64"]),
            ("count", ["v15_48x64"]),
            ("defaults", ["v9_48x64"])]
    cases = []
    for config_name, names in plan:
        d = write_processor(out, "video", config_name, VIDEO_CONFIGS[config_name])
        processor = Qwen3VLVideoProcessor.from_pretrained(d)
        for name in names:
            frames, fps = videos[name]
            case = dict(name=f"video/{config_name}/{name}", config=f"video-{config_name}", media=[name])
            try:
                result = processor(videos=[tchw(frames)], video_metadata=[VideoMetadata(len(frames), fps=fps)],
                                   input_data_format="channels_first", return_metadata=True, return_tensors="pt")
            except ValueError as e:
                cases.append(dict(case, error=str(e)))
                continue
            metadata = result["video_metadata"][0]
            # What Qwen3VLProcessor.__call__ prints before each temporal group of the prompt.
            timestamps = processor_for_timestamps._calculate_timestamps(
                metadata.frames_indices, metadata.fps, processor_for_timestamps.video_processor.merge_size)
            processed[case["name"]] = result["pixel_values_videos"]
            cases.append(dict(case, grids=result["video_grid_thw"].tolist(),
                              frame_indices=[int(i) for i in metadata.frames_indices], timestamps=timestamps))
    return cases


# ---- encoder -------------------------------------------------------------------------------------

ENCODERS = {"head64": tiny.QWEN3VL_VISION_HEAD64, "odd": tiny.QWEN3VL_VISION_ODD}


def encoder_cases(rng: np.random.Generator, out: Path, tensors: dict) -> list:
    cases = []
    for seed, (model_name, vision) in enumerate(ENCODERS.items(), start=40):
        config = tiny.qwen3vl_config(vision, tiny.QWEN3VL_TEXT_TOY_VOCAB, **tiny.QWEN3VL_TOY_TOKENS)
        model = tiny.random_model(Qwen3VLForConditionalGeneration, config, seed, torch.float32)
        with torch.no_grad():  # LayerNorms start at (1, 0): give them values that a swap would show
            for name, p in model.model.visual.named_parameters():
                if "norm" in name:
                    p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + len(name))))
        model.save_pretrained(out / "models" / model_name)
        visual = model.model.visual
        visual_bf16 = copy.deepcopy(visual).to(torch.bfloat16)

        patch, merge = vision["patch_size"], vision["spatial_merge_size"]
        factor = patch * merge
        settings = dict(patch_size=patch, temporal_patch_size=vision["temporal_patch_size"], merge_size=merge,
                        image_mean=[0.5] * 3, image_std=[0.5] * 3,
                        size={"shortest_edge": factor * factor, "longest_edge": 1 << 20})
        images = Qwen2VLImageProcessorFast(**settings)
        videos = Qwen3VLVideoProcessor(**settings)
        inputs = {
            "image": images(images=[chw(smooth(rng, 2 * factor, 3 * factor))], input_data_format="channels_first",
                            return_tensors="pt"),
            "two_images": images(images=[chw(noise(rng, 3 * factor, 2 * factor)), chw(smooth(rng, factor, 5 * factor))],
                                 input_data_format="channels_first", return_tensors="pt"),
            "video": videos(videos=[tchw(noise(rng, 5, 2 * factor, 2 * factor))], input_data_format="channels_first",
                            video_metadata=[VideoMetadata(5, fps=2.0)], return_tensors="pt"),
        }
        for case_name, batch in inputs.items():
            pixel_values = batch.get("pixel_values", batch.get("pixel_values_videos"))
            grid_thw = batch.get("image_grid_thw", batch.get("video_grid_thw"))
            key = f"{model_name}/{case_name}"
            tensors[f"{key}/pixel_values"] = pixel_values
            with torch.no_grad():
                embeds, deepstack = visual(pixel_values, grid_thw)
                tensors[f"{key}/embeds"] = embeds
                for j, feature in enumerate(deepstack):
                    tensors[f"{key}/deepstack.{j}"] = feature
                # The same tower in bf16 (4.57's position arithmetic runs in the table's dtype), and
                # the pieces whose arithmetic is elementwise, hence reproducible bit for bit.
                embeds, deepstack = visual_bf16(pixel_values, grid_thw)
                tensors[f"{key}/bf16/embeds"] = embeds
                for j, feature in enumerate(deepstack):
                    tensors[f"{key}/bf16/deepstack.{j}"] = feature
                tensors[f"{key}/bf16/pos_embeds"] = visual_bf16.fast_pos_embed_interpolate(grid_thw)
                angles = visual.rot_pos_emb(grid_thw)
                emb = torch.cat((angles, angles), dim=-1)
                tensors[f"{key}/rotary_cos"] = emb.cos()
                tensors[f"{key}/rotary_sin"] = emb.sin()
            cases.append(dict(name=key, model=model_name, grids=grid_thw.tolist(), deepstack=len(deepstack),
                              attn_implementation=model.model.visual.config._attn_implementation))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    (out / "media").mkdir(parents=True)

    # The timestamps come from Qwen3VLProcessor, which needs a tokenizer to exist.
    tokenizer = AutoTokenizer.from_pretrained(Path(os.environ["TRIMVL_SHARED_DIR"]) / "assets" / "qwen3-tokenizer")
    full = Qwen3VLProcessor(image_processor=Qwen2VLImageProcessorFast(**tiny.QWEN3VL_PREPROCESSOR),
                            video_processor=Qwen3VLVideoProcessor(**tiny.QWEN3VL_VIDEO_PREPROCESSOR),
                            tokenizer=tokenizer)

    processed, encoder = {}, {}
    cases = {"images": image_cases(rng, out, processed),
             "videos": video_cases(rng, out, processed, full),
             "encoders": encoder_cases(rng, out, encoder)}
    save_file({k: v.contiguous() for k, v in processed.items()}, out / "processed.safetensors")
    save_file({k: v.contiguous() for k, v in encoder.items()}, out / "encoder.safetensors")
    tiny.write_json(out / "smart_resize.json", smart_resize_table())
    tiny.write_json(out / "cases.json", cases)


if __name__ == "__main__":
    main()
