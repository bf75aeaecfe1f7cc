"""The preflight's memory bound: a step's memory estimated on the meta device, against a real step and the machine."""

from __future__ import annotations

import pytest
import torch

from experiments import config as C
from experiments.errors import ConfigError
from experiments.preflight import check_step_memory
from methods import build_method
from methods.data.views import random_batch
from methods.step_memory import OVERCOUNT, step_bytes

from .conftest import tiny_overrides


def _real_saved(name: str, batch: int) -> int:
    rc = C.resolve(tiny_overrides(name))
    torch.manual_seed(0)
    method = build_method(name, rc.method_config, rc.encoder).train()
    b = random_batch(method.views, batch, method.encoders.context_length)
    seen, total = set(), 0

    def pack(x):
        nonlocal total
        key = x.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += x.untyped_storage().nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        method(b)
    return total


@pytest.mark.parametrize("name", ["clip", "cosmos"])
def test_the_estimate_bounds_a_real_step_from_above_within_its_overcount(name):
    rc = C.resolve(tiny_overrides(name))
    est = step_bytes(name, rc.method_config, rc.encoder, 32) - step_bytes(name, rc.method_config, rc.encoder, 16)
    real = _real_saved(name, 32) - _real_saved(name, 16)
    assert real <= est <= 1.05 * OVERCOUNT * real, (est, real)


def test_the_estimate_grows_with_the_batch_and_checkpointing_lowers_it():
    rc = C.resolve(tiny_overrides("clip"))
    small, big = (step_bytes("clip", rc.method_config, rc.encoder, b) for b in (32, 256))
    assert big > 4 * (small - step_bytes("clip", rc.method_config, rc.encoder, 1))
    assert step_bytes("clip", rc.method_config, rc.encoder, 256, grad_checkpointing=True) < big


def test_a_step_the_machine_cannot_hold_is_one_line_naming_the_estimate():
    huge = C.resolve(tiny_overrides("clip", **{"train.batch_size": 65536}))
    with pytest.raises(ConfigError, match=r"needs about \d+\.\d GiB .* more than this machine's 16\.0 GiB of RAM"):
        check_step_memory(huge, (16 * 2**30, "RAM"))
    crops = C.resolve(tiny_overrides("cosmos", **{"cosmos.local_crops": 64, "cosmos.local_size": 1024}))
    with pytest.raises(ConfigError, match="fewer / smaller views"):
        check_step_memory(crops, (16 * 2**30, "RAM"))
    check_step_memory(C.resolve(tiny_overrides("cosmos")), (16 * 2**30, "RAM"))  # the tiny profile fits
