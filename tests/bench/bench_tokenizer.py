#!/usr/bin/env python3
"""Tokenizer throughput: trimvl's C++ encoder against HF `tokenizers` on the same corpus, in one run.

Corpus: the valid-UTF-8 samples of tests/golden/gen_tokenizer.py's parity corpus (about 1.1 MB of
prose, code, multilingual text, emoji, whitespace runs and numbers, in about 1,500 samples).
For each real tokenizer.json (Qwen3, Llama-2), add_special_tokens false:

  hf encode        Tokenizer.encode() per sample from Python, one thread (includes the Python
                   call, a few microseconds per sample)
  hf encode_batch  one encode_batch() over all samples (Rust, parallel on all cores)
  hf batch_fast    one encode_batch_fast() (as encode_batch, without offsets)
  trimvl x1        trimvl::Tokenizer::encode per sample, one thread
  trimvl xN        the same over N threads (N = cores) sharing one Tokenizer

Each measurement is the best of --repeat runs after one warm-up run (both libraries cache
per-word results). Token counts are compared so a speed-up cannot come from a wrong answer.

Run with the venv's Python after building (cmake --build build --target tokenizer_bench):
  python tests/bench/bench_tokenizer.py [--build build] [--shared ../shared] [--repeat 5]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "golden"))
from gen_tokenizer import Corpus  # noqa: E402  (the golden generator's corpus, reused)


def best_of(repeat: int, run) -> tuple[float, int]:
    run()  # warm-up
    times, tokens = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = run()
        times.append(time.perf_counter() - start)
    return min(times), tokens


def trimvl_run(binary: Path, tokenizer: Path, corpus: Path, threads: int, repeat: int) -> tuple[float, int, float]:
    out = subprocess.run([str(binary), str(tokenizer), str(corpus), "--threads", str(threads),
                          "--repeat", str(repeat + 1)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    return result["best_s"], result["tokens"], result["load_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=ROOT / "build")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("TRIMVL_SHARED_DIR", ROOT.parent / "shared")))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    binary = args.build / "tests" / "language" / "tokenizer_bench"
    if not binary.exists():
        sys.exit(f"bench_tokenizer: {binary} not found (cmake --build {args.build} --target tokenizer_bench)")

    texts = []
    for sample in Corpus().samples():
        try:
            texts.append(sample.decode("utf-8"))
        except UnicodeDecodeError:
            pass  # HF takes str: invalid UTF-8 has no counterpart there
    size = sum(len(t.encode()) for t in texts)
    cores = os.cpu_count() or 1
    print(f"corpus: {len(texts)} samples, {size / 1e6:.2f} MB; {cores} cores; "
          f"tokenizers {__import__('tokenizers').__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.json"
        corpus.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        for name in ("qwen3", "llama2"):
            path = args.shared / "assets" / f"{name}-tokenizer" / "tokenizer.json"
            start = time.perf_counter()
            hf = Tokenizer.from_file(str(path))
            hf_load = time.perf_counter() - start
            rows = {
                "hf encode": best_of(args.repeat, lambda: sum(len(hf.encode(t, add_special_tokens=False).ids)
                                                              for t in texts)),
                "hf encode_batch": best_of(args.repeat, lambda: sum(
                    len(e.ids) for e in hf.encode_batch(texts, add_special_tokens=False))),
                "hf batch_fast": best_of(args.repeat, lambda: sum(
                    len(e.ids) for e in hf.encode_batch_fast(texts, add_special_tokens=False))),
            }
            seconds, tokens, load = trimvl_run(binary, path, corpus, 1, args.repeat)
            rows["trimvl x1"] = (seconds, tokens)
            seconds, tokens, _ = trimvl_run(binary, path, corpus, cores, args.repeat)
            rows[f"trimvl x{cores}"] = (seconds, tokens)

            print(f"\n{name}: load {load:.2f} s (hf {hf_load:.2f} s)")
            print(f"  {'':16} {'MB/s':>8} {'Mtok/s':>8} {'vs hf encode':>13}")
            base = rows["hf encode"][0]
            for label, (seconds, tokens) in rows.items():
                print(f"  {label:16} {size / seconds / 1e6:8.2f} {tokens / seconds / 1e6:8.3f} {base / seconds:12.2f}x")
            counts = {label: tokens for label, (_, tokens) in rows.items()}
            if len(set(counts.values())) != 1:
                sys.exit(f"bench_tokenizer: token counts differ: {counts}")


if __name__ == "__main__":
    main()
