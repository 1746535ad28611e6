#!/usr/bin/env bash
# Sets up whatever is missing, then runs the whole test suite with CTest.
# Extra arguments go to ctest (e.g. -R bn, -L ...).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
ctest --test-dir "${BNLAB_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)" "$@"
