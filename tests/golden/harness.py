#!/usr/bin/env python3
"""Runs the golden generators (tests/golden/gen_*.py) in the pinned venv, with caching.

Each generator writes reference inputs/outputs into the directory given by --out. Its output is
cached under --cache/<name>-<key>, where key hashes the generator's source, the files it lists in
a module-level INPUTS = [...] (paths relative to the repository root or absolute, $VARS expanded)
and tests/requirements.txt (the pinned reference versions). A finished output carries a
.complete stamp; an interrupted one is discarded. --link DIR gets a symlink DIR/<name> to each
output, which is where the C++ tests look (TRIMVL_GOLDEN_DIR).
"""
import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def declared_inputs(script: Path) -> list[Path]:
    tree = ast.parse(script.read_text(), str(script))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "INPUTS" for t in node.targets):
            return [Path(os.path.expandvars(p)) if os.path.isabs(os.path.expandvars(p)) else ROOT / p
                    for p in ast.literal_eval(node.value)]
    return []


def cache_key(script: Path) -> str:
    h = hashlib.sha256()
    for path in [script, ROOT / "tests" / "requirements.txt", *declared_inputs(script)]:
        if not path.exists():
            sys.exit(f"harness: {script.name} declares input {path}, which does not exist")
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    # Shared helpers of the generators are inputs of every one of them.
    for helper in sorted(HERE.glob("_*.py")):
        h.update(helper.read_bytes())
    return h.hexdigest()[:16]


def run(script: Path, cache: Path, link: Path | None) -> None:
    name = script.stem.removeprefix("gen_")
    out = cache / f"{name}-{cache_key(script)}"
    if not (out / ".complete").exists():
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        start = time.time()
        print(f"harness: generating {name} -> {out}", flush=True)
        env = dict(os.environ, PYTHONHASHSEED="0", CUBLAS_WORKSPACE_CONFIG=":4096:8")
        subprocess.run([sys.executable, str(script), "--out", str(tmp)], check=True, env=env, cwd=ROOT)
        (tmp / ".complete").write_text(f"{time.time() - start:.1f}s\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    else:
        print(f"harness: {name} cached ({out.name})", flush=True)
    if link is not None:
        link.mkdir(parents=True, exist_ok=True)
        target = link / name
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--link", type=Path)
    ap.add_argument("names", nargs="*", help="generators to run (default: all)")
    args = ap.parse_args()
    scripts = sorted(HERE.glob("gen_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("gen_") in args.names]
    for script in scripts:
        run(script, args.cache, args.link)
    print(f"harness: {len(scripts)} generator(s) ready")


if __name__ == "__main__":
    main()
