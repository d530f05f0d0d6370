#!/usr/bin/env bash
# Builds the threaded CPU worker into OUT (default dist/): the worker binary with the `threads`
# feature and without WebGPU, its wasm built with atomics on a shared memory. Stable Rust cannot
# build the standard library that way, so this build uses a pinned nightly and -Z build-std
# (installed by scripts/install-tools.sh). The page uses it only when it is cross-origin isolated
# and computes on the CPU (README, "Threads"); without these files it uses the single-thread
# worker. Trunk runs this after `trunk build --release` (Trunk.toml); `trunk serve` skips it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
OUT="${1:-dist}"
if ! rustup "+$NIGHTLY" component list --installed 2>/dev/null | grep -qx rust-src; then
  echo "build-threads: $NIGHTLY with rust-src is missing (scripts/install-tools.sh installs it);" \
    "the threaded CPU worker is not built, and pages use the single-thread one" >&2
  exit 0
fi
TARGET=target/threads
WASM="$TARGET/wasm32-unknown-unknown/release/worker.wasm"

# The same code generation as the single-thread build (Cargo.toml's release profile), plus
# atomics. The linker is asked for what wasm-bindgen's thread support expects: the memory
# shared and imported (the pool's workers instantiate the module on it), with a maximum (4 GiB,
# as the single-thread build's), and the thread-local storage's symbols exported.
LINK="--shared-memory --import-memory --max-memory=4294967296"
LINK="$LINK --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals $(printf -- '-C link-arg=%s ' $LINK)" \
  cargo "+$NIGHTLY" build --locked --release --bin worker --no-default-features --features threads \
  --target wasm32-unknown-unknown -Z build-std=std,panic_abort --target-dir "$TARGET"
mkdir -p "$OUT"
wasm-bindgen --target no-modules --no-typescript --out-dir "$TARGET/bindgen" --out-name convlens-threads "$WASM"
# KEEP_NAMES=1 keeps the functions' names, for a profile of the threaded worker
# (tests/browser/profile-worker.mjs with ISOLATED=1).
wasm-opt -Oz ${KEEP_NAMES:+-g} --enable-threads --enable-bulk-memory --enable-mutable-globals --enable-simd --enable-sign-ext \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  "$TARGET/bindgen/convlens-threads_bg.wasm" -o "$OUT/convlens-threads_bg.wasm"
cp "$TARGET/bindgen/convlens-threads.js" static/threads/convlens-threads-loader.js static/threads/convlens-thread.js "$OUT/"
