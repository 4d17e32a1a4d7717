#!/usr/bin/env bash
# trimvl setup: Debian packages, the pinned Python venv (whose torch wheel provides LibTorch), the
# CMake build, and the two jobs the README promises.
#
#   ./setup.sh demo    install, build, run the main job
#   ./setup.sh test    install, build, run every test (what .ci/run calls)
#   ./setup.sh build   install and build only
#   ./setup.sh deps    install only
#   ./setup.sh device-deps   gather what the GPU machine lacks into .deps/ (see tests/gpu/)
#
# Idempotent: a second run checks stamps and finishes in seconds. Everything heavy (venv, pip and
# ccache caches, golden outputs) lives outside the clone under $TRIMVL_CACHE_DIR, keyed by the
# pinned versions, so a fresh clone on the same machine reuses it.
#
# Environment: TRIMVL_CACHE_DIR (default ~/.cache/trimvl), TRIMVL_BUILD_DIR (default ./build),
# TRIMVL_JOBS (default nproc), TRIMVL_CMAKE_ARGS (extra configure flags), Torch_DIR (use this
# LibTorch instead of the venv's), TRIMVL_SKIP_APT=1 (do not touch system packages).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${TRIMVL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trimvl}"
BUILD="${TRIMVL_BUILD_DIR:-$ROOT/build}"
JOBS="${TRIMVL_JOBS:-$(nproc)}"
SHARED="${TRIMVL_SHARED_DIR:-$ROOT/../shared}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-venv python3-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libpcre2-dev libicu-dev
  libgtest-dev libgmock-dev
  qt6-base-dev xvfb xauth
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
)

install_apt() {
  [[ "${TRIMVL_SKIP_APT:-0}" == 1 ]] && return 0
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The venv is keyed by the pinned requirements and the interpreter, so changing a pin builds a new
# one beside the old instead of mutating it.
venv_dir() {
  local key
  key=$( { cat "$ROOT/tests/requirements.txt"; python3 -c 'import sys;print(sys.version)'; } | sha256sum | cut -c1-12)
  echo "$CACHE/venv-$key"
}

install_venv() {
  VENV="$(venv_dir)"
  if [[ -f "$VENV/.complete" ]]; then return 0; fi
  say "creating Python venv $VENV (torch, transformers, tokenizers, trimkv; a few minutes once)"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE/pip}" \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/tests/requirements.txt"
  touch "$VENV/.complete"
}

torch_prefix() {
  if [[ -n "${Torch_DIR:-}" ]]; then echo "$Torch_DIR"; return; fi
  "$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)'
}

build() {
  local gen=() launcher=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
    # Relative paths in the hash let a fresh clone elsewhere hit the same cache entries.
    export CCACHE_DIR="${CCACHE_DIR:-$CACHE/ccache}" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=true
    export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
    ccache --max-size=8G >/dev/null
  fi
  # Configured every time (seconds when nothing changed) so a new venv or option takes effect.
  say "configuring $BUILD"
  local log="$BUILD/configure.log"
  mkdir -p "$BUILD"
  # shellcheck disable=SC2086
  if ! cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$(torch_prefix)" -DTRIMVL_PYTHON="$VENV/bin/python" \
      -DTRIMVL_SHARED_DIR="$SHARED" -DTRIMVL_CACHE_DIR="$CACHE" -DTRIMVL_MEDIA=ON -DTRIMVL_GUI=ON \
      ${TRIMVL_CMAKE_ARGS:-} >"$log" 2>&1; then
    cat "$log" >&2
    die "configure failed (log: $log)"
  fi
  say "building ($JOBS jobs)"
  cmake --build "$BUILD" -j "$JOBS" >&2
}

deps() { install_apt; install_venv; }

run_demo() {
  local model="$CACHE/demo/qwen3vl-tiny"
  say "main job: ask the demo model about a sample image (assets/sample_image.safetensors)"
  say "note: the demo checkpoint is tiny and UNTRAINED (random weights), so its answer is noise; point trimvl at a real snapshot for real answers"
  "$VENV/bin/python" "$ROOT/tests/golden/make_demo_checkpoint.py" --tokenizer "$SHARED/assets/qwen3-tokenizer" --out "$model" >&2
  mkdir -p "$BUILD/demo"
  "$BUILD/app/trimvl" ask -m "$model" --image "$ROOT/assets/sample_image.safetensors" \
    -p "Describe this image in one sentence." --max-new-tokens 32 --temperature 0 \
    --kv-policy dbtrimkv --kv-budget 8 --kv-buffer 4 --prefill-chunk 64 --trace "$BUILD/demo/retention.trace"
  "$BUILD/app/trimvl" trace "$BUILD/demo/retention.trace"
  if "$BUILD/app/trimvl" trace "$BUILD/demo/retention.trace" --png "$BUILD/demo/retention.png"; then
    say "retention heatmap: $BUILD/demo/retention.png; budget share by modality: $BUILD/demo/retention-modality.png"
  fi
}

run_tests() {
  say "running all tests"
  local ctest_args=(--test-dir "$BUILD" --output-on-failure -j "$JOBS")
  ctest "${ctest_args[@]}"
}

# For the GPU machine (no network, no PCRE2/ICU headers): Debian packages and the shared tokenizer
# assets into .deps/, which `device` calls carry; tests/gpu/device_build.sh unpacks them there.
device_deps() {
  mkdir -p "$ROOT/.deps" && cd "$ROOT/.deps"
  apt-get download libpcre2-dev libpcre2-8-0 libicu-dev libicu72 2>/dev/null
  rm -rf shared && mkdir -p shared && cp -r "$SHARED/assets" shared/
  say "device dependencies in $ROOT/.deps ($(du -sh . | cut -f1)); carry .deps and run tests/gpu/device_build.sh"
}

case "${1:-demo}" in
  deps) deps ;;
  build) deps; build ;;
  demo) deps; build; run_demo ;;
  test) deps; build; run_tests ;;
  device-deps) device_deps ;;
  -h|--help|help) sed -n '2,18p' "$0" ;;
  *) die "unknown command '$1' (expected demo, test, build or deps)" ;;
esac
