#!/usr/bin/env python3
"""Builds the demo model of `./setup.sh demo`: a tiny, untrained Qwen3-VL snapshot (random bf16
weights, the real Qwen3 tokenizer, processor configs, a chat template) with random DBTrimKV (rg10)
retention gates beside it, so every stage of trimvl runs without downloading anything. Its answers
are noise; a README.md in the snapshot says so.

Idempotent: an --out that already holds a complete demo is left as it is. The snapshot is built
beside --out and renamed into place, so an interrupted run leaves nothing half-written.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import _tiny_models as tiny

SEED = 0
FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja", "trimkv_weights.pth",
         "README.md")

README = """\
# trimvl demo model (untrained)

A tiny Qwen3-VL (text: {layers} layers, hidden {hidden}; vision: {depth} blocks) with random weights
and random DBTrimKV (rg10) retention gates, built by trimvl's tests/golden/make_demo_checkpoint.py
(seed {seed}) with transformers and trimkv. It exercises the whole pipeline (tokenizer, image and
video preprocessing, vision encoder, decoder, learned-retention KV cache) in seconds on a CPU, but
it has learned nothing: whatever it generates is noise.

For real answers use a trained model, e.g.

    huggingface-cli download Qwen/Qwen3-VL-4B-Instruct

and point trimvl at it (or at a TrimKV gate directory whose base_model names it).
"""


def build(out: Path, tokenizer_dir: Path) -> None:
    model = tiny.save_qwen3vl_snapshot(out, tokenizer_dir, seed=SEED)
    # The gates sit in the snapshot itself, and config.json carries trimkv's gate fields (in
    # text_config, as trimkv writes them for VLMs); without base_model, the snapshot is its own base.
    config = tiny.trimkv_config("qwen3_vl", "rg10", base_model=None)
    _, gates = tiny.random_gates(config, seed=SEED)
    tiny.save_gates(out / "trimkv_weights.pth", gates)
    config.architectures = model.config.architectures
    config.dtype = model.config.dtype
    config.save_pretrained(out)
    text = model.config.text_config
    (out / "README.md").write_text(README.format(layers=text.num_hidden_layers, hidden=text.hidden_size,
                                                 depth=model.config.vision_config.depth, seed=SEED))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", type=Path, required=True, help="folder with the Qwen3 tokenizer.json and "
                                                                   "tokenizer_config.json")
    ap.add_argument("--out", type=Path, required=True, help="where the snapshot goes")
    args = ap.parse_args()
    out = args.out
    if all((out / f).is_file() for f in FILES):
        print(f"demo model: {out} is complete", file=sys.stderr)
        return
    if out.exists():
        sys.exit(f"make_demo_checkpoint: {out} exists but is not a complete demo model; remove it and run again")
    for name in tiny.TOKENIZER_FILES:
        if not (args.tokenizer / name).is_file():
            sys.exit(f"make_demo_checkpoint: {args.tokenizer / name} not found (expected the Qwen3 tokenizer files)")
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        build(partial, args.tokenizer)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    print(f"demo model: built {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
