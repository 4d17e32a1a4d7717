#!/usr/bin/env python3
"""bf16 on the GPU: trimvl's logits against HF transformers 4.57.1 on the same GPU (issue 3's GPU check).

Builds the tiny random Qwen3-VL snapshot of tests/golden/_tiny_models.py in bf16, scores one
continuation with `trimvl score --device cuda --dtype bf16 --dump-logits`, runs
Qwen3VLForConditionalGeneration (bf16, sdpa, CUDA) on the same token ids, and compares every
continuation position's logits: max |ours - hf| / max |hf| must be <= 2e-2.

Run on the GPU machine after tests/gpu/device_build.sh, with transformers 4.57.1, tokenizers 0.22.2
and huggingface_hub 0.36 on PYTHONPATH (that machine has newer ones; carry wheels, see docs/build.md):
  LD_LIBRARY_PATH=/tmp/trimvl-deps/usr/lib/x86_64-linux-gnu \
    python3 tests/gpu/hf_bf16_check.py --trimvl build-gpu/app/trimvl --tokenizer .deps/shared/assets/qwen3-tokenizer
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from _tiny_models import save_qwen3vl_snapshot  # noqa: E402

PROMPT = "Describe the weather on a quiet autumn morning in two sentences."
CONTINUATION = " The air is cool and still, and thin mist hangs over the fields."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trimvl", type=Path, required=True)
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--tolerance", type=float, default=2e-2)
    args = ap.parse_args()
    import transformers
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration

    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(tmp) / "model"
        torch.manual_seed(0)
        save_qwen3vl_snapshot(snap, args.tokenizer, seed=11, dtype=torch.bfloat16)
        dump = Path(tmp) / "ours.safetensors"
        subprocess.run([str(args.trimvl), "score", "-m", str(snap), "--device", "cuda", "--dtype", "bf16",
                        "-p", PROMPT, "--continuation", CONTINUATION, "--dump-logits", str(dump)], check=True,
                       stdout=subprocess.DEVNULL)
        ours = load_file(dump)
        tokens = ours["tokens"].long().tolist()

        tok = AutoTokenizer.from_pretrained(snap)
        text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
        prompt_ids = tok(text, add_special_tokens=False).input_ids
        model = Qwen3VLForConditionalGeneration.from_pretrained(snap, torch_dtype=torch.bfloat16,
                                                                attn_implementation="sdpa").cuda().eval()
        ids = torch.tensor([prompt_ids + tokens], device="cuda")
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        # Row i of ours predicts continuation token i, i.e. HF's logits at position len(prompt)-1+i.
        hf = logits[len(prompt_ids) - 1: len(prompt_ids) - 1 + len(tokens)].cpu()
        got = ours["logits"].float()
        rel = ((got - hf).abs().max() / hf.abs().max()).item()
        same_top = (got.argmax(-1) == hf.argmax(-1)).float().mean().item()
        print(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
        print(f"prompt {len(prompt_ids)} tokens, continuation {len(tokens)} tokens, vocab {got.shape[1]}")
        print(f"bf16 logits: max|ours-hf|/max|hf| = {rel:.3e} (tolerance {args.tolerance}); argmax agreement {same_top:.3f}")
        sys.exit(0 if rel <= args.tolerance else 1)


if __name__ == "__main__":
    main()
