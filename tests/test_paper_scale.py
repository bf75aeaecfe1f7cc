"""benchmarks/paper_scale.py counts FLOPs on the meta device: the same count as a real step's with attention in its
plain formula (on the CPU, FlopCounterMode counts nothing for the fused attention kernel: measured 0 FLOPs for an
SDPA call, so methods/flops.py's CPU counts leave attention out; the meta count keeps it)."""

from __future__ import annotations

import sys

import pytest
import torch

from experiments import config as C
from methods import METHODS, build_method
from methods.data.views import random_batch
from methods.encoders import build_encoders
from methods.flops import count_flops

from .conftest import ROOT, tiny_overrides


@pytest.mark.parametrize("name", ["clip", "cosmos", "dreamlip"])
def test_meta_flops_equal_a_real_steps(name):
    sys.path.insert(0, str(ROOT))
    from benchmarks.paper_scale import flops_per_sample

    rc = C.resolve(tiny_overrides(name))
    torch.manual_seed(0)
    real = build_method(name, rc.method_config, rc.encoder).train()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the teacher's no-grad attention too: no fused inference op
    with sdpa_kernel(SDPBackend.MATH):  # attention as matmuls, which the counter sees
        expected = count_flops(real, random_batch(real.views, 8, real.encoders.context_length)) / 8
    torch.backends.mha.set_fastpath_enabled(fastpath)
    fused = count_flops(real, random_batch(real.views, 8, real.encoders.context_length)) / 8
    assert fused < expected  # the CPU's fused kernel is invisible to the counter
    with torch.device("meta"):
        enc = build_encoders(rc.encoder, device="meta", **METHODS[name].encoder_options(rc.method_config))
        meta = METHODS[name](rc.method_config, enc).train()
    assert flops_per_sample(meta, 8) == pytest.approx(expected, rel=1e-9)
