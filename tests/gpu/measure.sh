#!/usr/bin/env bash
# Everything one GPU-machine call should bring back for issue 5, in one command that fits a call's
# 10 minutes: the core build and GPU tests, the decode kernel's read rate alone, the bench at 1K /
# 8K / 32K with the HF baseline and profiled windows, and the bf16 checks against HF. Every step
# runs even when one before it failed; each step's output lands in ./measure-out as a file, and the
# exit code says whether all passed. The device tool brings back at most 8 files (a profiled bench
# alone writes more), so with OUT set $OUT gets measure-out packed as measure.tgz, the step
# summary and the bench tables.
#
#   usage (GPU machine, repo root; carry .deps and .whl):  tests/gpu/measure.sh [PHASE...]
#   phases: build (+ GPU tests), kernel (the decode attention's read rate, a kernel boundary's
#   cost), bench, long, hf (tiny shape), hf4b (the 4B shape), busy (the TTFT beside a process that
#   keeps one core busy, with the one intra-op thread a GPU run takes and with
#   OMP_NUM_THREADS=nproc: docs/perf.md run O), all of them by default; on request, ncu (one 32K
#   decode-attention launch under Nsight Compute: throughput, occupancy, instructions issued — what
#   tells an issue-bound kernel from a memory-bound one) and ab (the full cache at 1K and 32K with
#   and without the bench flag AB_FLAG, default --no-cuda-graphs, or with and without the
#   environment AB_ENV instead, e.g. AB_ENV="TRIMVL_SOME_SWITCH=1" for an experiment's runtime
#   switch, alternating twice each: a change's effect beside the run-to-run spread of one build,
#   which decides a change of a few percent). The defaults took 427 s in run J, 318 s in run K and
#   460 s in run N (docs/perf.md), inside one call's 10 minutes; to split them, run e.g. "build
#   kernel" and then "bench long hf hf4b" in the next call while the machine is still warm
#   (build-gpu/ is kept then).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out="$PWD/measure-out"
rm -rf "$out" && mkdir -p "$out"
rc=0
step() {  # step NAME COMMAND...: runs COMMAND with its output to $out/NAME.log, notes its status
  local name="$1"; shift
  local start=$SECONDS
  "$@" >"$out/$name.log" 2>&1
  local status=$?
  echo "$name: exit $status in $((SECONDS - start)) s" | tee -a "$out/steps.txt"
  ((status == 0)) || rc=1
}

if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
# The device's copy of the tree keeps the .git of the last landed commit, so HEAD can be stale there.
# The tree hash of the files themselves is what a run measured: `git log --format='%h %T'` here
# finds the commit whose tree it is.
{
  git log -1 --format='HEAD %H %s'
  echo "tree $(GIT_INDEX_FILE=/tmp/measure-index.$$ sh -c 'git read-tree HEAD && git add -A . && git write-tree')"
} > "$out/commit.txt" 2>/dev/null || true
rm -f /tmp/measure-index.$$
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

phases=("$@")
((${#phases[@]})) || phases=(build kernel bench long hf hf4b busy)
want() { [[ " ${phases[*]} " == *" $1 "* ]]; }
want build && step build env JOBS="${JOBS:-16}" TARGETS="${TARGETS:-device_checks}" tests/gpu/device_build.sh -L gpu
export LD_LIBRARY_PATH=/tmp/trimvl-deps/usr/lib/x86_64-linux-gnu
if want kernel && [[ -x build-gpu/tests/cache/paged_decode_bench ]]; then
  step decode_kernel build-gpu/tests/cache/paged_decode_bench 1024 8192 32768 131072
fi
want kernel && [[ -x build-gpu/tests/kernels/boundary_bench ]] && step boundary build-gpu/tests/kernels/boundary_bench
if want bench; then
  step bench build-gpu/app/trimvl bench --device cuda --contexts 1024,8192,32768 --decode-tokens 256 \
    --kv-policy dbtrimkv --kv-budget 512 --kv-buffer 128 --hf-baseline --json "$out/bench.json" --profile /tmp/profile
  cp /tmp/profile/*.txt "$out/" 2>/dev/null || true  # the traces themselves are too large to bring back
  for trace in /tmp/profile/decode-*.json /tmp/profile/ttft-*.json; do
    [[ -f "$trace" ]] || continue
    name=$(basename "$trace" .json)
    steps=1 gaps=12
    [[ $name == decode-* ]] && steps=32 gaps=0
    step "timeline-$name" tests/gpu/trace_timeline.py "$trace" --steps "$steps" --gaps "$gaps"
  done
fi
want long && step bench_128k build-gpu/app/trimvl bench --device cuda --contexts 1024,131072 --decode-tokens 256 \
  --kv-policy dbtrimkv --kv-budget 512 --kv-buffer 128 --policy-only --json "$out/bench_128k.json"
want ncu && step ncu_decode_32k ncu --clock-control none -k regex:paged_decode -s 40 -c 1 --section SpeedOfLight \
  --section Occupancy --metrics smsp__inst_executed.sum build-gpu/tests/cache/paged_decode_bench 32768
if want ab; then
  for round in 1 2; do
    for arm in with without; do
      flag=() environment=()
      if [[ $arm == with && -n "${AB_ENV:-}" ]]; then
        read -ra environment <<<"$AB_ENV"
      elif [[ $arm == with ]]; then
        flag=("${AB_FLAG:---no-cuda-graphs}")
      fi
      step "ab_${arm}_$round" env "${environment[@]}" build-gpu/app/trimvl bench --device cuda --contexts 1024,32768 \
        --decode-tokens 256 --kv-policy full "${flag[@]}"
    done
  done
  for log in "$out"/ab_*.log; do
    awk -v run="$(basename "$log" .log)" '$1 == "full" && ($2 == 1024 || $2 == 32768) { print run, $2, $3, "tok/s" }' "$log"
  done > "$out/ab.txt"
fi
if want busy; then
  for threads in one all; do
    environment=()
    [[ $threads == all ]] && environment=(OMP_NUM_THREADS="$(nproc)")
    timeout 60 sh -c 'while :; do :; done' &
    spinner=$!
    step "busy_$threads" env "${environment[@]}" build-gpu/app/trimvl bench --device cuda --contexts 1024 \
      --decode-tokens 16 --kv-policy full
    kill "$spinner" 2>/dev/null
  done
  (cd "$out" && grep "TTFT.*median\|host:" busy_*.log > busy.txt 2>/dev/null)
fi
want hf && step hf_bf16_tiny python3 tests/gpu/hf_bf16_check.py --trimvl build-gpu/app/trimvl \
  --tokenizer .deps/shared/assets/qwen3-tokenizer
want hf4b && step hf_bf16_4b python3 tests/gpu/hf_bf16_check.py --trimvl build-gpu/app/trimvl \
  --tokenizer .deps/shared/assets/qwen3-tokenizer --shape 4b
if [[ -n "${OUT:-}" ]]; then
  tar czf "$OUT/measure.tgz" -C "$out" .
  cp "$out/steps.txt" "$OUT/" 2>/dev/null || true
  for log in bench.log bench_128k.log ab.txt busy.txt; do [[ -f "$out/$log" ]] && cp "$out/$log" "$OUT/"; done
fi
exit "$rc"
