"""Checkpoints under failure, one test each: diverged weights never replace a good checkpoint, a failed or
interrupted write leaves a whole file, concurrent writers never collide, a bad file is one line."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import torch

from experiments import config as C
from experiments.run import main
from methods.checkpoint import load, save_atomic
from methods.errors import CheckpointError, DivergedError

from .conftest import ROOT, tiny_overrides
from .test_train import _run, nan_loss_at_call


def test_an_exploding_update_never_replaces_the_last_good_checkpoint(scenes, tmp_path):
    cfg = C.resolve(tiny_overrides())

    def explode(method):
        original = method.on_step_end

        def on_step_end(step, total):
            original(step, total)
            if step == 5:  # the 6th update blows the weights up; the loss has not seen them yet
                with torch.no_grad():
                    for p in method.parameters():
                        p.mul_(1e27)
        method.on_step_end = on_step_end

    with pytest.raises(DivergedError, match=r"weights exploded .* at step 6; kept the checkpoint of step 3"):
        _run(cfg, tmp_path, hook=explode)
    assert load(tmp_path / "last.pt")["step"] == 3


def test_a_nan_loss_right_after_a_checkpoint_restores_the_one_before(scenes, tmp_path):
    """The weights saved at step 4 are the ones that gave the NaN at step 4: the step-2 checkpoint is kept."""
    cfg = C.resolve(tiny_overrides(**{"train.ckpt_every": 2}))
    with pytest.raises(DivergedError, match="at step 4; kept the checkpoint of step 2"):
        _run(cfg, tmp_path, hook=nan_loss_at_call(5))
    assert load(tmp_path / "last.pt")["step"] == 2
    assert load(tmp_path / "last.pt.diverged")["step"] == 4


def test_a_failed_checkpoint_write_is_one_line_and_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_atomic({"step": 1}, path)

    def full_disk(obj, f):  # save_atomic hands torch.save an open file, closed on failure
        f.write(b"x" * 4096)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"could not write checkpoint .*last.pt: No space left on device"):
        save_atomic({"step": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no partial temporary file is left"
    assert load(path)["step"] == 1


def test_sigterm_during_a_checkpoint_write_stops_the_run_after_it(tmp_path, monkeypatch):
    """The signal lands inside torch.save (the zip writer's file callback): the write finishes, the run then stops
    with Terminated (exit 143, INTERRUPTED), not with a misleading write error (a race seen in CI)."""
    import signal

    from experiments.errors import Terminated
    from experiments.experiment import interrupted_by_sigterm

    real_save = torch.save

    def save_with_a_signal(obj, f):
        f.write(b"")
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: inside the write
        for _ in range(1000):
            pass
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_with_a_signal)
    with interrupted_by_sigterm(), pytest.raises(Terminated):
        save_atomic({"step": 7}, tmp_path / "last.pt")
    assert load(tmp_path / "last.pt")["step"] == 7  # the checkpoint was completed before the stop
    with interrupted_by_sigterm(), pytest.raises(Terminated):  # outside a write the signal stops at once
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass


def test_concurrent_saves_to_one_path_never_collide(tmp_path):
    code = ("import sys; sys.path.insert(0, {!r})\n"
            "from methods.checkpoint import save_atomic\n"
            "import torch\n"
            "for i in range(40): save_atomic({{'w': torch.zeros(20000)}}, {!r})\n").format(
                str(ROOT), str(tmp_path / "last.pt"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert load(tmp_path / "last.pt")["w"].shape == (20000,)


def _checkpoint_files(tmp_path):
    import io

    enc_state = {"visual.proj": torch.zeros(2, 2)}
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(random.Random(0).randbytes(2048))
    good = io.BytesIO()
    torch.save(enc_state, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.getvalue()[:300])
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save(enc_state, tmp_path / "wrong_keys.pt")
    return {"garbage": (garbage, "is not a readable checkpoint"),
            "truncated": (truncated, "is not a readable checkpoint"),
            "tensor": (tmp_path / "tensor.pt", "holds a Tensor, not a state dict"),
            "list": (tmp_path / "list.pt", "holds a list, not a state dict"),
            "wrong_keys": (tmp_path / "wrong_keys.pt", "does not match encoder ViT-Micro-8-32: missing")}


@pytest.mark.parametrize("kind", ["garbage", "truncated", "tensor", "list", "wrong_keys"])
def test_a_bad_checkpoint_is_one_line_and_exit_1(kind, scenes, tmp_path, capsys):
    path, message = _checkpoint_files(tmp_path)[kind]
    code = main(["eval", f"checkpoint={path}", "encoder=ViT-Micro-8-32", "data.scenes=test",
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and message in err.splitlines()[-1] and err.splitlines()[-1].startswith("error: ")
    assert "Traceback" not in err


def test_any_garbage_file_is_an_unreadable_checkpoint_never_a_traceback(tmp_path):
    """Random bytes can fail torch's unpickler in many ways (KeyError, IndexError, ...): all are one error."""
    from methods.checkpoint import load

    path = tmp_path / "garbage.pt"
    for seed in range(300):
        rng = random.Random(seed)
        path.write_bytes(rng.randbytes(rng.randrange(1, 4096)))
        with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
            load(path)
