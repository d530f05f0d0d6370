#!/usr/bin/env bash
# Where the CPU worker's time goes in wasm: builds examples/bench_forward for wasm32-wasip1 with
# the release profile (the page's), runs it under Node's WASI with V8's sampling profiler, and
# prints the functions with the most self time.
# Usage: scripts/profile-wasm.sh [MODEL.onnx] [RUNS=50] [TOP=15] [grad]
# (`grad`: a forward and backward pass to the image, as a saliency map, instead of a forward pass)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
model=${1:-static/models/squeezenet1_1-int8.onnx}
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
cargo build --release --example bench_forward --target wasm32-wasip1
out=$(mktemp -d)
WASI_PROFILE="$out/wasi.cpuprofile" node --no-warnings --single-threaded-gc scripts/wasi-run.mjs \
  target/wasm32-wasip1/release/examples/bench_forward.wasm "${2:-50}" "$model" ${4:-}
node scripts/cpuprofile-top.mjs "$out/wasi.cpuprofile" "${3:-15}"
rm -rf "$out"
