#!/usr/bin/env bash
# Sets up whatever is missing, then runs the whole test suite with CTest.
#
#   scripts/test.sh [--sanitize] [CTEST_ARGS...]
#
# --sanitize: the same suite on the ASan + UBSan build (build-sanitize/, clang
# 14), plus a smoke run of every fuzz target (30 s each); any sanitizer report
# fails the test it happens in. Extra arguments go to ctest (e.g. -R bn, -L fuzz).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sanitize=0
if [ "${1:-}" = --sanitize ]; then
  sanitize=1
  shift
fi
if ((sanitize)); then
  "$root/scripts/setup.sh" --sanitize
  "$root/scripts/sanitize_build.sh"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$root/tests/sanitizer/lsan.supp:print_suppressions=0"
  ctest --test-dir "${BNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}" --output-on-failure -j "$(nproc)" "$@"
else
  "$root/scripts/setup.sh"
  ctest --test-dir "${BNLAB_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)" "$@"
fi
