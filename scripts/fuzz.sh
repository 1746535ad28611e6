#!/usr/bin/env bash
# Runs bnlab's libFuzzer targets (tests/fuzz) on their seed corpus.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     default: all, 600 seconds each
#
# Targets: idx csv experiment set checkpoint run_json. The sanitized build
# (ASan + UBSan + coverage, clang) lives in BNLAB_SANITIZE_BUILD_DIR (default
# build-sanitize/) and is configured and built here when needed
# (scripts/test.sh --sanitize makes the same one). New inputs the fuzzer finds
# go to BUILD/fuzz-corpus/TARGET (not into git); a crash, leak or sanitizer
# report stops the target, leaves the input in BUILD/fuzz-findings/ and makes
# this script exit 1. The last lines per target give executions and coverage.
# BNLAB_FUZZ_NO_BUILD=1 (any non-empty value) skips the build, as the ctest
# smoke runs do; a target that is not built then fails as such, not as a finding.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BNLAB_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
all_targets=(idx csv experiment set checkpoint run_json)
target="${1:-all}"
seconds="${2:-600}"
if [ "$target" = all ]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $target "* ]]; then
  targets=("$target")
else
  echo "fuzz.sh: unknown target '$target' (expected one of: ${all_targets[*]}, all)" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] && ((seconds > 0)) ||
  { echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }

if [ -z "${BNLAB_FUZZ_NO_BUILD:-}" ]; then
  "$root/scripts/sanitize_build.sh" "${targets[@]/#/fuzz_}"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizer/lsan.supp:print_suppressions=0"
status=0
for t in "${targets[@]}"; do
  # A target not built is no finding: say so, and fail as a setup error.
  [ -x "$build_dir/tests/fuzz/fuzz_$t" ] ||
    { echo "fuzz.sh: $build_dir/tests/fuzz/fuzz_$t is not built (unset BNLAB_FUZZ_NO_BUILD)" >&2; exit 1; }
  corpus="$build_dir/fuzz-corpus/$t"
  findings="$build_dir/fuzz-findings"
  mkdir -p "$corpus" "$findings"
  log="$build_dir/fuzz-logs/$t.log"
  mkdir -p "$(dirname "$log")"
  echo "== fuzz_$t for ${seconds}s (seeds: tests/fuzz/corpus/$t; log: $log)"
  asan_options="$ASAN_OPTIONS"
  # LibTorch is built without frame pointers: only the slow unwinder sees the
  # frames tests/sanitizer/lsan.supp names for the checkpoint reader's leak.
  [ "$t" = checkpoint ] && asan_options+=":fast_unwind_on_malloc=0"
  if ASAN_OPTIONS="$asan_options" "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
       -print_final_stats=1 -artifact_prefix="$findings/$t-" "$corpus" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E "DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed "s/^/   /"
  else
    tail -n 40 "$log" >&2
    echo "fuzz_$t: FOUND A PROBLEM (the input is saved under $findings)" >&2
    status=1
  fi
done
exit "$status"
