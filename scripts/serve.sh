#!/usr/bin/env bash
# Installs missing tools, then serves the release build on http://127.0.0.1:${PORT:-8080}/
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$ROOT/scripts/install-tools.sh"
cd "$ROOT"
PORT="${PORT:-8080}"
echo "convlens: building (release) and serving at http://127.0.0.1:$PORT/"
# Its pages are not cross-origin isolated: no threaded CPU worker (README, "Threads").
CONVLENS_THREADS=0 CONVLENS_RELAXED=0 exec trunk serve --release --address 127.0.0.1 --port "$PORT"
