#!/usr/bin/env python3
"""bf16 on the GPU: trimvl against HF transformers 4.57.1 on the same GPU (issue 3's GPU check, issue 5's shapes).

Builds a random Qwen3-VL snapshot in bf16 and runs two checks on it:

  logits  `trimvl score --dump-logits` scores one continuation; Qwen3VLForConditionalGeneration (sdpa)
          runs the same token ids; every continuation position's logits must satisfy
          max |ours - hf| / max |hf| <= --tolerance (2e-2). Twice: the prompt in one forward (the
          prefill path), and one token per forward (`--prefill-chunk 1`: the decode path, where a
          4B head dim runs the paged decode kernel), each against HF's one full forward. Printed
          beside it: each side's distance from the same weights in fp32, and HF against itself
          with eager attention instead of sdpa — how far two faithful bf16 runs of one model fall.
  greedy  `trimvl ask --temperature 0 --max-new-tokens 32 --dump-logits` against HF
          generate(do_sample=False, max_new_tokens=32) on the same prompt: the 32 tokens must be
          identical (the snapshot has no EOS, so both make all 32). On a mismatch the step and both
          sides' top-1/top-2 margins are printed: a margin within bf16 noise is a near tie, not a bug.

Shapes (--shape):
  tiny  (default) tests/golden/_tiny_models.py's snapshot; both checks.
  4b    assets/configs/qwen3vl-4b.json's text decoder (36 layers, 2560 wide, real vocabulary and
        token ids; ~8 GiB of bf16 weights written as a sharded snapshot) with the tiny vision tower
        widened to the text width: the logits check only (on a random 4B-wide model greedy decoding
        is a string of near ties). --layers N keeps the width but builds N layers, to try this mode
        quickly (or on the CPU).

Run on the GPU machine after tests/gpu/device_build.sh, with transformers 4.57.1, tokenizers 0.22.2
and huggingface_hub 0.36 on PYTHONPATH (that machine has newer ones; carry wheels, see docs/build.md):
  LD_LIBRARY_PATH=/tmp/trimvl-deps/usr/lib/x86_64-linux-gnu \\
    python3 tests/gpu/hf_bf16_check.py --trimvl build-gpu/app/trimvl --tokenizer .deps/shared/assets/qwen3-tokenizer
  ... the same with --shape 4b
--device cpu [--dtype fp32] runs everything on the CPU (a check of this script, not of the GPU path).
"""
import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
import _tiny_models as tiny  # noqa: E402

PROMPT = "Describe the weather on a quiet autumn morning in two sentences."
CONTINUATION = " The air is cool and still, and thin mist hangs over the fields."
GREEDY_TOKENS = 32
CONFIG_4B = ROOT / "assets" / "configs" / "qwen3vl-4b.json"
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def config_4b(layers=None):
    """The 4B's config with the tiny vision tower (its output as wide as the text), optionally fewer layers."""
    from transformers import Qwen3VLConfig

    config = Qwen3VLConfig.from_json_file(str(CONFIG_4B))
    vision = dict(tiny.QWEN3VL_VISION, out_hidden_size=config.text_config.hidden_size)
    config.vision_config = type(config.vision_config)(**vision)
    if layers is not None:
        config.text_config.num_hidden_layers = layers
    return config


def save_4b_snapshot(out: Path, tokenizer_dir: Path, layers, seed: int, dtype, device) -> None:
    """Random weights made on `device` in `dtype` (no fp32 copy of 4B parameters on the host), saved
    with the files a snapshot needs. The file list mirrors _tiny_models.save_qwen3vl_snapshot, which
    is not changed for this: its hash keys every golden reference."""
    from transformers import Qwen3VLForConditionalGeneration

    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config_4b(layers), dtype=dtype)
    # Sharded as the hub's checkpoints are (the 4B's comes in 2 files); 1 GB shards give 2 files even
    # for a 2-layer try-out, so the index path is exercised there too.
    model.save_pretrained(out, max_shard_size="1GB")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()  # trimvl loads it next, in another process
    for name in tiny.TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, out / name)
    tiny.write_json(out / "preprocessor_config.json", tiny.QWEN3VL_PREPROCESSOR)
    tiny.write_json(out / "video_preprocessor_config.json", tiny.QWEN3VL_VIDEO_PREPROCESSOR)
    (out / "chat_template.jinja").write_text(tiny.QWEN3VL_CHAT_TEMPLATE)


def relative_error(ours: torch.Tensor, hf: torch.Tensor) -> float:
    """max |ours - hf| / max |hf| over every element (float32)."""
    ours, hf = ours.float(), hf.float()
    if ours.shape != hf.shape:
        raise ValueError(f"logits of shape {tuple(ours.shape)} against {tuple(hf.shape)}")
    return ((ours - hf).abs().max() / hf.abs().max()).item()


def norm_error(ours: torch.Tensor, hf: torch.Tensor) -> float:
    """||ours - hf|| / ||hf|| (float32): the other common reading of a relative tolerance, printed
    beside the max-norm one that decides, for whoever judges the criterion."""
    ours, hf = ours.float(), hf.float()
    return ((ours - hf).norm() / hf.norm()).item()


def margin_in_steps(logits: torch.Tensor, dtype: torch.dtype) -> str:
    """The top-2 margin in units of `dtype`'s spacing at the top logit: 0 or 1 is a tie at that precision."""
    top = logits.float().topk(2).values
    spacing = torch.finfo(dtype).eps * 2.0 ** torch.floor(torch.log2(top[0].abs())).item()
    return f"{(top[0] - top[1]).item():.4g}, {((top[0] - top[1]) / spacing).item():.0f} steps of {dtype}"


def first_divergence(ours: list, hf: list):
    """Index of the first differing token (a length difference counts at the shorter end), or None."""
    for i, (a, b) in enumerate(zip(ours, hf)):
        if a != b:
            return i
    return None if len(ours) == len(hf) else min(len(ours), len(hf))


def trimvl_run(args, command: str, snap: Path, dump: Path, *extra: str) -> dict:
    subprocess.run([str(args.trimvl), command, "-m", str(snap), "--device", args.device, "--dtype", args.dtype,
                    "-p", PROMPT, "--dump-logits", str(dump), *extra], check=True, stdout=subprocess.DEVNULL)
    return load_file(dump)


def hf_logits(args, model, prompt_ids: list, tokens: list):
    """HF's logits predicting each continuation token: in the run dtype (sdpa attention), and for
    bf16/fp16 also with eager attention and in fp32; (hf, eager, exact), the last two None in fp32."""
    ids = torch.tensor([prompt_ids + tokens], device=args.device)
    # Row i of ours predicts continuation token i, i.e. HF's logits at position len(prompt)-1+i.
    rows = slice(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(tokens))
    with torch.inference_mode():
        hf = model(input_ids=ids).logits[0, rows].float().cpu()
        if args.dtype == "fp32":
            return hf, None, None
        # HF against itself with only the attention kernel changed: how far apart two faithful
        # low-precision runs of one model fall, the scale against which the tolerance is judged.
        model.set_attn_implementation("eager")
        try:
            eager = model(input_ids=ids).logits[0, rows].float().cpu()
        finally:
            model.set_attn_implementation("sdpa")
        # How far each bf16 run is from the same weights computed in fp32: a difference between two
        # bf16 runs is only meaningful next to how far either is from the exact model. On a copy:
        # casting the model there and back would leave its fp32 rotary buffers (inv_freq) rounded
        # to bf16, and every later HF run (the greedy check) would be of another model.
        exact_model = copy.deepcopy(model).float()
        exact = exact_model(input_ids=ids).logits[0, rows].float().cpu()
        del exact_model
    return hf, eager, exact


def check_logits(args, snap: Path, model, prompt_ids: list, tmp: Path) -> bool:
    """The continuation scored through the prefill path and through one-token forwards, against HF's one forward."""
    paths = {"prefill path": (), "decode path (one token per forward)": ("--prefill-chunk", "1")}
    # One dump file per run: the loaded tensors may still map the file a later run would rewrite.
    runs = {path: trimvl_run(args, "score", snap, tmp / f"score-{i}.safetensors", "--continuation", CONTINUATION,
                             *extra)
            for i, (path, extra) in enumerate(paths.items())}
    tokens = next(iter(runs.values()))["tokens"].long().tolist()
    if any(run["tokens"].long().tolist() != tokens for run in runs.values()):
        raise ValueError("the two scoring runs tokenised the continuation differently")
    hf, eager, exact = hf_logits(args, model, prompt_ids, tokens)
    print(f"prompt {len(prompt_ids)} tokens, continuation {len(tokens)} tokens, vocab {hf.shape[1]}")
    if eager is not None:
        print(f"HF {args.dtype} with eager attention against HF's sdpa: max|eager-sdpa|/max|sdpa| = "
              f"{relative_error(eager, hf):.3e} (norm-wise {norm_error(eager, hf):.3e}); against fp32: "
              f"{relative_error(eager, exact):.3e}")
    ok = True
    for path, run in runs.items():
        got = run["logits"].float()
        rel = relative_error(got, hf)
        same_top = (got.argmax(-1) == hf.argmax(-1)).float().mean().item()
        print(f"{path}: {args.dtype} logits: max|ours-hf|/max|hf| = {rel:.3e} (tolerance {args.tolerance}; "
              f"norm-wise {norm_error(got, hf):.3e}); argmax agreement {same_top:.3f}")
        if exact is not None:
            print(f"against the same weights in fp32 (HF): ours {relative_error(got, exact):.3e}, "
                  f"HF {args.dtype} {relative_error(hf, exact):.3e}")
        ok = rel <= args.tolerance and ok
    return ok


def check_greedy(args, snap: Path, model, prompt_ids: list, tmp: Path) -> bool:
    ours = trimvl_run(args, "ask", snap, tmp / "ask.safetensors", "--temperature", "0", "--max-new-tokens",
                      str(GREEDY_TOKENS))
    ours_tokens = ours["tokens"].long().tolist()
    ids = torch.tensor([prompt_ids], device=args.device)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=GREEDY_TOKENS, output_logits=True, return_dict_in_generate=True)
    hf_tokens = out.sequences[0, len(prompt_ids):].tolist()
    print(f"greedy: ours {len(ours_tokens)} tokens ({len(set(ours_tokens))} distinct), HF {len(hf_tokens)}")
    at = first_divergence(ours_tokens, hf_tokens)
    if at is None and len(hf_tokens) == GREEDY_TOKENS:
        print(f"greedy: {GREEDY_TOKENS} identical tokens")
        return True
    if at is None:
        print(f"greedy: both stopped after {len(hf_tokens)} tokens, not {GREEDY_TOKENS} (an EOS in the snapshot?)")
        return False
    detail = ""
    if at < min(len(ours_tokens), len(hf_tokens)):
        dtype = DTYPES[args.dtype]
        detail = (f": ours {ours_tokens[at]} (margin {margin_in_steps(ours['logits'][at], dtype)}), "
                  f"HF {hf_tokens[at]} (margin {margin_in_steps(out.logits[at][0], dtype)})")
    print(f"greedy: first difference at token {at}{detail}")
    print(f"  ours {ours_tokens}\n  hf   {hf_tokens}")
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trimvl", type=Path, required=True)
    ap.add_argument("--tokenizer", type=Path, required=True)
    ap.add_argument("--tolerance", type=float, default=2e-2)
    ap.add_argument("--shape", choices=("tiny", "4b"), default="tiny")
    ap.add_argument("--layers", type=int, help="--shape 4b: build this many decoder layers (default: the 4B's 36)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    args = ap.parse_args()
    if args.layers is not None and (args.shape != "4b" or args.layers <= 0):
        ap.error("--layers takes a positive count, with --shape 4b")
    import transformers
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration

    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        snap = tmp / "model"
        if args.shape == "tiny":
            torch.manual_seed(0)
            tiny.save_qwen3vl_snapshot(snap, args.tokenizer, seed=11, dtype=dtype)
        else:
            save_4b_snapshot(snap, args.tokenizer, args.layers, seed=11, dtype=dtype, device=device)

        tok = AutoTokenizer.from_pretrained(snap)
        text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
        prompt_ids = tok(text, add_special_tokens=False).input_ids
        model = Qwen3VLForConditionalGeneration.from_pretrained(snap, dtype=dtype,
                                                                attn_implementation="sdpa").to(device).eval()
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        print(f"transformers {transformers.__version__}, torch {torch.__version__}, {where}; shape {args.shape}, "
              f"{model.config.text_config.num_hidden_layers} layers, "
              f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters")
        ok = check_logits(args, snap, model, prompt_ids, tmp)
        if args.shape == "tiny":
            ok = check_greedy(args, snap, model, prompt_ids, tmp) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
