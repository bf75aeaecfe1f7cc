"""torch.compile on the CPU (issue 40): no method's forward breaks dynamo's graph, a compiled step gives the eager
step's loss and gradients, and train.compile=true trains through inductor (where a C++ compiler exists)."""

from __future__ import annotations

import copy
import shutil

import pytest
import torch

from experiments import config as C
from methods import METHODS, build_method
from methods.data.views import random_batch

from .conftest import tiny_overrides


def _method(name: str):
    torch.manual_seed(0)
    rc = C.resolve(tiny_overrides(name))
    m = build_method(name, rc.method_config, rc.encoder).train()
    return m, random_batch(m.views, 4, m.encoders.context_length)


@pytest.mark.parametrize("name", list(METHODS))
def test_no_method_forward_breaks_the_graph(name):
    m, batch = _method(name)
    explained = torch._dynamo.explain(m)(batch)
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


@pytest.mark.parametrize("name", list(METHODS))
def test_a_compiled_step_gives_the_eager_loss_and_gradients(name):
    m, batch = _method(name)
    twin = copy.deepcopy(m)  # stateful forwards (SiLC's centre) start from the same state
    eager = m(batch)["loss"]
    eager.backward()
    torch._dynamo.reset()
    compiled = torch.compile(twin, backend="aot_eager")(batch)["loss"]
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=0)
    for (n, a), (_, b) in zip(m.named_parameters(), twin.named_parameters()):
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="inductor on the CPU needs a C++ compiler")
def test_train_compile_trains_through_inductor(scenes, tmp_path):
    from .test_train import _run

    torch._dynamo.reset()
    cfg = C.resolve(tiny_overrides("clip", **{"train.steps": 2, "train.compile": True}))
    _, metrics = _run(cfg, tmp_path)
    assert metrics and all(torch.isfinite(torch.tensor(float(v))) for v in metrics.values())
