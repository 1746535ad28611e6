#!/usr/bin/env bash
# The flagship job: set up whatever is missing, then train the Keras
# tutorial MLP on MNIST without BatchNorm, with LibTorch's and with bnlab's
# (keras-mlp: 4 variants, one seed, 10 epochs each; about a minute). Runs that
# already finished are kept and reported, not repeated.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
bnlab="${BNLAB_BUILD_DIR:-$root/build}/bnlab"
"$bnlab" run keras-mlp --skip-finished "$@"
