#!/usr/bin/env bash
# Configures and builds the ASan + UBSan build (clang 14, with the libFuzzer
# targets) in BNLAB_SANITIZE_BUILD_DIR (default build-sanitize/).
#
#   scripts/sanitize_build.sh [CMAKE_TARGET...]     default: everything
#
# scripts/setup.sh --sanitize installs clang-14 and its runtimes first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
command -v clang++-14 >/dev/null ||
  { echo "sanitize_build.sh: clang++-14 not found (run scripts/setup.sh --sanitize)" >&2; exit 1; }
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "[sanitize] configuring $build_dir (clang 14, ASan + UBSan + libFuzzer)"
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DBNLAB_SANITIZE=ON -DBNLAB_FUZZ=ON
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
echo "[sanitize] building ${*:-everything}"
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
