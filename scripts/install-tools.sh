#!/usr/bin/env bash
# Installs what building (and, with --browser, testing) needs, skipping what is already there.
# Everything comes from the package registries; nothing is downloaded at build time.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# The CPU kernels' wasm SIMD paths are tested as a WASI program under Node (scripts/test.sh).
if [ "${1:-}" = --browser ]; then
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
fi

# The threaded CPU worker's toolchain (scripts/build-threads.sh): a pinned nightly with the
# standard library's source, which it rebuilds with atomics.
if ! rustup "+$NIGHTLY" component list --installed 2>/dev/null | grep -qx rust-src; then
  rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
fi

# Every crate in Cargo.lock, for every target: Trunk builds with --offline (Trunk.toml), so the
# WebGPU crates the native tests never compile must be in the cache before it runs.
cargo fetch --locked

if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  echo "installing trunk $TRUNK_VERSION (about 15 minutes on 2 cores)"
  cargo install trunk --locked --version "$TRUNK_VERSION"
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  echo "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches Cargo.lock)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
# wasm-opt (binaryen 132), playwright-core and axe-core, pinned in tests/browser/package-lock.json.
if [ ! -x tests/browser/node_modules/.bin/wasm-opt ] || [ ! -d tests/browser/node_modules/playwright-core ] \
  || [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

# Debian packages: Fashion-MNIST (the bundled model's accuracy test and its training), and for
# --browser the headless Chromium.
PACKAGES=()
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || PACKAGES+=(dataset-fashion-mnist)
if [ "${1:-}" = "--browser" ] && [ ! -x "$CHROMIUM" ]; then
  PACKAGES+=(chromium chromium-driver)
fi
if [ ${#PACKAGES[@]} -gt 0 ]; then
  echo "installing Debian packages: ${PACKAGES[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${PACKAGES[@]}"
fi
