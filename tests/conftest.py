"""Shared fixtures: a session-wide copy of the small 'test' scenes preset in a temporary data cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Every test (and subprocess) generates benchmark data into a temporary cache, never the user's data/."""
    path = tmp_path_factory.mktemp("suite-data")
    os.environ["SUITE_DATA"] = str(path)
    return path


@pytest.fixture(scope="session")
def scenes(data_cache) -> Path:
    from methods.data.scenes import ensure_scenes, preset

    return ensure_scenes(preset("test"), progress=False)


# Method sizes for the 32-px micro encoders (local crops must be smaller than the 32-px global ones).
TEST_SIZES = {"clip": {}, "slip": {"slip.ssl_hidden": 64, "slip.ssl_dim": 32},
              "silc": {"silc.local_size": 16, "silc.local_crops": 2, "silc.head_dim": 64, "silc.head_hidden": 64,
                       "silc.head_bottleneck": 32},
              "cosmos": {"cosmos.local_size": 16, "cosmos.local_crops": 2}}


def tiny_overrides(method: str = "clip", **extra) -> dict:
    """A run config small enough for a test: micro encoders, the 'test' scenes preset, a few steps."""
    return TEST_SIZES.get(method, {}) | {"method": method, "scale": "tiny", "encoder": "ViT-Micro-8-32", "data.scenes": "test",
            "data.workers": 0, "data.shuffle_buffer": 32, "train.batch_size": 16, "train.steps": 6,
            "train.warmup": 2, "train.ckpt_every": 3, "train.log_every": 1} | extra
