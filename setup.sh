#!/usr/bin/env bash
# Create .venv at the repository root and install the suite's environment (idempotent: a second run is quick).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip<27"
.venv/bin/python -m pip install --quiet -r requirements.txt
# the suite itself, editable: `import methods` from anywhere and the `cosmos-suite` command (pins above)
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -c "import torch, torchvision, open_clip, webdataset, sacred, omegaconf, pandas, jinja2, seaborn; \
print(f'suite environment ready: torch {torch.__version__}, open_clip {open_clip.__version__}')"
