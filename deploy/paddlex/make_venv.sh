#!/usr/bin/env bash
# Make the PaddleX 3 environment (default .venv-paddlex in the repository root) that runs
# this project's exports in PaddleX and that tests/test_paddlex_plugin.py uses:
#     bash deploy/paddlex/make_venv.sh [FOLDER]
# It is separate from the training environment (see deploy/requirements-paddlex.txt).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${1:-$ROOT/.venv-paddlex}"
PY="${PYTHON:-python3}"
"$PY" -m venv "$DIR"
"$DIR/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/deploy/requirements-paddlex.txt"
"$DIR/bin/python" -c "import paddlex, cv2, onnxruntime; print('PaddleX', paddlex.__version__, 'ready in $DIR')"
