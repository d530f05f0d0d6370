#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, native tests, the release wasm
# build, then the headless-Chromium tests against dist/ served on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/install-tools.sh" --browser
cd "$ROOT"

step() { printf '\n==> %s (%s)\n' "$1" "$(date +%T)"; }

step "rustfmt"
cargo fmt --check

step "native tests"
cargo test --locked

step "CPU kernels split over threads (feature threads, native threads): the same bits as one thread"
cargo test --locked --features threads --test cpu_conv

step "CPU kernels in wasm with SIMD128 (wasm32-wasip1 under Node): against Burn, onnxruntime, numpy"
CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings --single-threaded-gc scripts/wasi-run.mjs" \
  cargo test --locked --target wasm32-wasip1 --test cpu_conv --test zoo --test squeezenet --test attribution_reference

step "the float product with relaxed SIMD (feature relaxed-simd, wasm32-wasip1): the same checks"
# Node 20 runs relaxed SIMD behind a flag that later versions no longer need.
RELAXED=$(node --experimental-wasm-relaxed-simd -e 0 2>/dev/null && echo --experimental-wasm-relaxed-simd || true)
CARGO_TARGET_WASM32_WASIP1_RUNNER="node $RELAXED --no-warnings --single-threaded-gc scripts/wasi-run.mjs" \
  cargo test --locked --features relaxed-simd --target wasm32-wasip1 --test cpu_conv --test zoo --test squeezenet
CARGO_TARGET_WASM32_WASIP1_RUNNER="node $RELAXED --no-warnings --single-threaded-gc scripts/wasi-run.mjs" \
  cargo test --locked --features relaxed-simd --target wasm32-wasip1 --lib cpu_gemm

step "release wasm build (trunk, wasm-opt -Oz; the threaded and relaxed-SIMD workers too)"
trunk build --release

step "browser tests (headless Chromium, WebGPU on SwiftShader and CPU)"
node tests/browser/run.mjs dist

step "all tests passed"
