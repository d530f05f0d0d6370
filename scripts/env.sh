# Sourced by the other scripts: tool paths and pinned versions.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/tests/browser/node_modules/.bin:$HOME/.cargo/bin:$PATH"
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' "$ROOT/Cargo.lock")"
CHROMIUM="${CHROMIUM:-/usr/lib/chromium/chromium}"
# The threaded CPU worker needs a nightly toolchain (scripts/build-threads.sh).
NIGHTLY=nightly-2026-05-20
