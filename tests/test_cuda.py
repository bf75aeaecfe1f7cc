"""CUDA paths, run on a GPU machine only (benchmarks/gpu_check.py runs them there): mixed precision with and
without the GradScaler, the batched photometric ops on the GPU, evaluation on the GPU, TF32 and torch.compile.
On a CPU-only machine every test here is skipped."""

from __future__ import annotations

import pytest
import torch

from experiments import config as C
from methods import METHODS, build_method
from methods.data.views import random_batch

from .conftest import tiny_overrides

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("method", list(METHODS))
def test_a_short_mixed_precision_run_trains_every_method_on_cuda(scenes, tmp_path, method, precision):
    from .test_train import ListLogger, _run

    cfg = C.resolve(tiny_overrides(method, **{"train.precision": precision, "train.steps": 4}))
    logger = ListLogger()
    m, metrics = _run(cfg, tmp_path, logger)
    losses = [v for n, v, _ in logger.scalars if n == "train/loss"]
    assert next(m.parameters()).is_cuda and len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert "retrieval/scenes/i2t_r1" in metrics


def test_bf16_autocast_stays_close_to_fp32_for_a_cosmos_step():
    from methods.train import autocast_context

    cfg = C.resolve(tiny_overrides("cosmos"))
    torch.manual_seed(0)
    method = build_method("cosmos", cfg.method_config, cfg.encoder).cuda()
    batch = {k: v.cuda() for k, v in random_batch(method.views, 8, method.encoders.context_length).items()}
    full = method(batch)["loss"].item()
    with autocast_context("bf16", torch.device("cuda")):
        half = method(batch)["loss"].item()
    assert abs(half - full) / abs(full) < 0.02


def test_photometric_ops_on_the_gpu_equal_the_cpu_ops():
    from methods.data import on_device
    from methods.data.views import DINO_GLOBAL2

    torch.manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32)).float()
    params = on_device.draw(DINO_GLOBAL2, 16)
    cpu = on_device.photometric(x, params)
    gpu = on_device.photometric(x.cuda(), params.cuda()).cpu()
    assert torch.equal(cpu, gpu)  # Pillow's arithmetic, one IEEE op per kernel: the same integers


def test_evaluation_on_the_gpu_equals_the_cpu(scenes):
    from methods.evals import EvalConfig, evaluate

    cfg = C.resolve(tiny_overrides())
    torch.manual_seed(0)
    method = build_method("clip", cfg.method_config, cfg.encoder).eval()
    sets = ("retrieval/scenes", "classification/scenes", "segmentation/scenes")
    on_cpu = evaluate(method, EvalConfig(sets=sets, batch_size=64), scenes)
    on_gpu = evaluate(method.cuda(), EvalConfig(sets=sets, batch_size=64), scenes)
    for k, v in on_cpu.items():
        assert on_gpu[k] == pytest.approx(v, abs=2.0), k  # rank ties may break differently in the last bit


@pytest.mark.parametrize("switch", ["train.tf32", "train.compile"])
def test_speed_switches_train(scenes, tmp_path, switch):
    from .test_train import _run

    cfg = C.resolve(tiny_overrides("cosmos", **{switch: True, "train.steps": 3, "train.precision": "bf16"}))
    _, metrics = _run(cfg, tmp_path)
    assert "retrieval/scenes/i2t_r1" in metrics
