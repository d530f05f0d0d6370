#!/usr/bin/env bash
# Builds the CPU worker a second time into OUT (default dist/), with the float product's
# multiply-adds fused (the `relaxed-simd` feature: wasm's relaxed SIMD, src/model/cpu_gemm.rs).
# Browsers without relaxed SIMD cannot compile that wasm at all, so the page starts it only
# where a probe module with `f32x4.relaxed_madd` validates, and falls back to the plain worker
# if it fails to start (README, "Relaxed SIMD"). Trunk runs this after `trunk build --release`
# (Trunk.toml); `trunk serve` skips it. Same toolchain and target directory as Trunk's build:
# only this crate is compiled again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
OUT="${1:-dist}"
TARGET=target/relaxed
cargo build --locked --release --bin worker --features wgpu,relaxed-simd --target wasm32-unknown-unknown
WASM=target/wasm32-unknown-unknown/release/worker.wasm
mkdir -p "$OUT" "$TARGET"
wasm-bindgen --target no-modules --no-typescript --out-dir "$TARGET" --out-name worker-relaxed "$WASM"
# KEEP_NAMES=1 keeps the functions' names (for tests/browser/profile-worker.mjs).
wasm-opt -Oz ${KEEP_NAMES:+-g} --enable-relaxed-simd --enable-simd --enable-bulk-memory --enable-mutable-globals \
  --enable-sign-ext --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  "$TARGET/worker-relaxed_bg.wasm" -o "$OUT/worker-relaxed_bg.wasm"
cp "$TARGET/worker-relaxed.js" static/relaxed/worker-relaxed-loader.js "$OUT/"
# The page tries this build only where its index.html says it was built (no request for files
# that are not there, e.g. under `trunk serve`).
if [ -f "$OUT/index.html" ] && ! grep -q 'name="convlens-relaxed"' "$OUT/index.html"; then
  sed -i 's|<meta charset="utf-8" />|&\n  <meta name="convlens-relaxed" content="built" />|' "$OUT/index.html"
fi
