#!/usr/bin/env bash
# The GPU check on any CUDA machine: bash benchmarks/gpu_check.sh OUT_DIR [gpu_check.py options]
# Uses .venv if setup.sh made one; otherwise the machine's python3 (with its own PyTorch), adding the suite's
# pure-Python packages from carried wheels (.whl/, made here by benchmarks/gpu_wheels.sh) or, with a package
# index, from it (never reinstalling PyTorch).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [options]}
shift
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
if ! "$PY" -c "import open_clip, webdataset, sacred" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/suite-site \
      .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/suite-site:${PYTHONPATH:-}
  else
    "$PY" -m pip install -q "open_clip_torch==3.3.0" "webdataset==1.0.2" "sacred==0.8.7" "setuptools<81" \
      pandas jinja2 matplotlib "seaborn==0.13.2" tqdm scikit-learn pillow pytest || exit 1
  fi
fi
export PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_check.py --out "$OUT" "$@"
