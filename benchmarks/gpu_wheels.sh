#!/usr/bin/env bash
# Download, into .whl/ (git-ignored), the pure-Python wheels the suite needs beyond what a CUDA image with PyTorch,
# torchvision, numpy, pandas, matplotlib, seaborn, scikit-learn, jinja2, tqdm and pytest already holds: they travel
# with the working tree to a machine with no package index, where benchmarks/gpu_check.sh installs them.
# The versions are this environment's (requirements.txt pins the direct ones).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PKGS="open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4 webdataset==1.0.2 braceexpand==0.1.7 sacred==0.8.7
docopt-ng==0.9.0 jsonpickle==4.1.4 munch==4.0.0 GitPython==3.2.1 gitdb==4.0.12 smmap==5.0.3 setuptools==80.10.2
py-cpuinfo==9.0.0 colorama==0.4.6"
# shellcheck disable=SC2086
python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl $PKGS
du -sh .whl && ls .whl
