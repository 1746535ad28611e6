#!/usr/bin/env bash
# The flagship job: set up whatever is missing, verify the data sets, and
# check bnlab's BatchNorm against LibTorch's on a table of random cases.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
bnlab="${BNLAB_BUILD_DIR:-$root/build}/bnlab"
"$bnlab" data verify
"$bnlab" verify
