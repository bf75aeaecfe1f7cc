"""Two processes on gloo see the loss and gradients of one process on the same global batch."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from methods import METHODS, build_method


def _batch(n=8):
    g = torch.Generator().manual_seed(1)
    text = torch.randint(1, 49000, (n, 16), generator=g)
    text[:, -1] = 49407
    return {"image": torch.randn(n, 3, 32, 32, generator=g), "text": text}


def _model(contrastive: str = "softmax"):
    torch.manual_seed(0)
    return build_method("clip", METHODS["clip"].Config(contrastive=contrastive), "ViT-Micro-8-32")


def _worker(rank: int, world: int, init: str, out: str, contrastive: str = "softmax") -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    method = _model(contrastive)
    ddp = torch.nn.parallel.DistributedDataParallel(method)
    batch = {k: v.chunk(world)[rank] for k, v in _batch().items()}
    loss = ddp(batch)["loss"]
    loss.backward()  # DDP averages gradients over ranks
    if rank == 0:
        torch.save({"loss": loss.detach(), "grads": {n: p.grad for n, p in method.named_parameters()
                                                     if p.grad is not None}}, out)
    dist.destroy_process_group()


@pytest.mark.parametrize("contrastive", ["softmax", "sigmoid"])
def test_two_gloo_processes_match_one_process(tmp_path, contrastive):
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(2, f"file://{tmp_path / 'init'}", out, contrastive), nprocs=2, join=True)
    assert not dist.is_initialized()
    ref = _model(contrastive)
    loss = ref(_batch())["loss"]
    loss.backward()
    got = torch.load(out, weights_only=True)
    assert torch.allclose(got["loss"], loss.detach(), atol=1e-5)
    # Each rank's loss covers the global batch but only its own features carry gradient, so the per-rank encoder
    # gradients sum to the full gradient and DDP's average is the single-process gradient / world size (AdamW is
    # invariant to that scale). The temperature enters every rank's logits directly: each rank holds its full
    # gradient, and the average is the single-process one (open_clip's ClipLoss behaves the same way). The sigmoid
    # loss's bias enters every logit as the temperature does.
    checked = 0
    for name, p in ref.named_parameters():
        if p.grad is not None:
            factor = 1 if name.endswith(("logit_scale", "logit_bias")) else 2
            assert torch.allclose(got["grads"][name] * factor, p.grad, atol=1e-5, rtol=1e-4), name
            checked += 1
    assert checked > 10


def _method_worker(rank: int, world: int, init: str, out: str, name: str, contrastive: str) -> None:
    from experiments import config as C

    from .conftest import tiny_overrides
    from .test_methods import _batch as views_batch

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    method = build_method(name, C.resolve(tiny_overrides(name, **{f"{name}.contrastive": contrastive})).method_config,
                          "ViT-Micro-8-32")
    ddp = torch.nn.parallel.DistributedDataParallel(method)
    batch = {k: v.chunk(world)[rank] for k, v in views_batch(method, 8).items()}
    out_d = ddp(batch)
    losses = torch.stack([out_d[k].detach() for k in sorted(out_d) if k.endswith("loss")])
    dist.all_reduce(losses)  # InfoNCE terms are already global on every rank; per-sample terms average
    if rank == 0:
        torch.save(losses / world, out)
    dist.destroy_process_group()


@pytest.mark.parametrize("name,contrastive", [("silc", "softmax"), ("cosmos", "softmax"), ("cosmos", "sigmoid")])
def test_two_gloo_processes_give_the_one_process_loss_for_distilled_methods(tmp_path, name, contrastive):
    """Gathered contrastive terms (CLIP, COSMOS distillation) and the DINO centre's all-reduce see the global
    batch. (SLIP is left out on CPU: torch has no CPU SyncBatchNorm, so its head's BN statistics are per rank.)"""
    from experiments import config as C

    from .conftest import tiny_overrides
    from .test_methods import _batch as views_batch

    out = str(tmp_path / "rank0.pt")
    mp.spawn(_method_worker, args=(2, f"file://{tmp_path / 'init'}", out, name, contrastive), nprocs=2, join=True)
    torch.manual_seed(0)
    ref = build_method(name, C.resolve(tiny_overrides(name, **{f"{name}.contrastive": contrastive})).method_config,
                       "ViT-Micro-8-32")
    ref_out = ref(views_batch(ref, 8))
    expected = torch.stack([ref_out[k].detach() for k in sorted(ref_out) if k.endswith("loss")])
    assert torch.allclose(torch.load(out, weights_only=True), expected, atol=1e-5)


def test_torchrun_two_processes_complete_one_recorded_run(scenes, tmp_path):
    """The loop's DDP path end to end: torchrun, gloo, 2 ranks; only rank 0 records a sacred run."""
    import json
    import subprocess
    import sys

    from .conftest import ROOT

    args = ["encoder=ViT-Micro-8-32", "data.scenes=test", "data.workers=0", "data.shuffle_buffer=16",
            "train.batch_size=8", "train.steps=3", "train.warmup=1", "train.ckpt_every=2"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "experiments/run.py", "train", *args, "--runs-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = [p for p in tmp_path.iterdir() if p.name.isdigit()]
    assert len(runs) == 1
    run = json.loads((runs[0] / "run.json").read_text())
    assert run["status"] == "COMPLETED" and "retrieval/scenes/i2t_r1" in run["result"]
    assert "No observers have been added" not in proc.stderr  # rank 1 runs unobserved by design
    assert proc.stdout.count(" COMPLETED: ") == 1 and "run None" not in proc.stdout  # rank 0's summary only


def _manifest_cell(tmp_path, nproc: int) -> dict:
    """Run clip_tiny's one cell (shrunk to a few steps on the test benchmark) with nproc processes; its result."""
    import json
    import subprocess
    import sys

    from .conftest import ROOT

    runs, out = tmp_path / f"runs{nproc}", tmp_path / f"out{nproc}"
    sets = ["encoder=ViT-Micro-8-32", "data.scenes=test", "data.workers=0", "data.shuffle_buffer=16",
            "data.split=samples", "train.batch_size=8", "train.steps=4", "train.warmup=1", "train.ckpt_every=2",
            "eval.sets=retrieval/scenes,classification/scenes"]
    launch = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                                                  str(nproc)]
    proc = subprocess.run([*launch, "experiments/run.py", "clip_tiny", "--seeds", "0", "--runs-dir", str(runs),
                           "--out", str(out), "--set", *sets], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "tables" / "clip_tiny.tex").exists()
    (run,) = [json.loads((p / "run.json").read_text()) for p in runs.iterdir() if p.name.isdigit()]
    assert run["status"] == "COMPLETED"
    return run["result"]


def test_torchrun_manifest_cell_matches_one_process(scenes, tmp_path):
    """A manifest cell under 2-process torchrun (gloo, data.split=samples) ends where the one-process cell does:
    same global batches and augmentations, gathered features, averaged gradients (AdamW: scale-free)."""
    one, two = _manifest_cell(tmp_path, 1), _manifest_cell(tmp_path, 2)
    assert one.keys() == two.keys()
    for k in one:
        assert abs(one[k] - two[k]) <= 0.5, (k, one[k], two[k])  # metrics in %, 64 test images: one image = 1.6
