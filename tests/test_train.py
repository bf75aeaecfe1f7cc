"""The one loop end to end at a tiny size: sacred records, exact resume, NaN guard, decreasing loss."""

from __future__ import annotations

import json

import pytest
import torch

from experiments import config as C
from experiments.experiment import run_training, train_urls
from methods import METHODS, build_method
from methods.checkpoint import load
from methods.evals import EvalConfig, evaluate
from methods.train import NonFiniteLoss, train

from .conftest import tiny_overrides


class ListLogger:
    def __init__(self):
        self.scalars, self.infos = [], {}

    def scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def info(self, key, value):
        self.infos[key] = value


def _run(cfg, ckpt_dir, logger=None, hook=None):
    torch.manual_seed(cfg.seed)
    method = build_method(cfg.method, cfg.method_config, cfg.encoder)
    if hook:
        hook(method)
    urls, scenes = train_urls(cfg)
    eval_cfg = EvalConfig(batch_size=64)
    metrics = train(method, urls, cfg.train, cfg.data, seed=cfg.seed,
                    ckpt_dir=ckpt_dir, logger=logger or ListLogger(),
                    evaluate=lambda m, _step: evaluate(m, eval_cfg, scenes), progress=False)
    return method, metrics


def test_sacred_run_records_config_curves_result_and_info(scenes, tmp_path, capfd):
    cfg = C.resolve(tiny_overrides())
    run = run_training(cfg, tmp_path)
    assert run.status == "COMPLETED"
    assert "train clip" not in capfd.readouterr().err  # stderr is no terminal here: no progress bar in a log
    rdir = tmp_path / "1"
    assert json.loads((rdir / "config.json").read_text())["encoder"] == "ViT-Micro-8-32"
    info = json.loads((rdir / "info.json").read_text())
    assert info["skipped_samples"] == 0 and info["wall_time_s"] > 0 and info["fingerprint"] == C.fingerprint(cfg)
    result = json.loads((rdir / "run.json").read_text())["result"]
    assert "retrieval/scenes/i2t_r1" in result and "classification/scenes/top1" in result
    curves = json.loads((rdir / "metrics.json").read_text())
    assert curves["train/loss"]["steps"] == [1, 2, 3, 4, 5, 6]
    assert (tmp_path / "checkpoints" / info["fingerprint"] / "last.pt").exists()
    assert (rdir / "attention_maps.npz").exists(), "maps for figures are saved with the run"


class FakeRun:
    """What run_main needs of a sacred Run, kept in memory."""

    def __init__(self):
        self.info, self._id, self.scalars, self.artifacts = {}, None, [], []

    def log_scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def add_artifact(self, path):
        self.artifacts.append((path.rsplit("/", 1)[-1], open(path, "rb").read()))


def test_the_run_body_runs_without_sacred(scenes, tmp_path):
    """experiments.experiment.run_main is the sacred main's whole body: callable on its own with any object that
    records like a Run."""
    from experiments.experiment import run_main

    cfg = C.resolve(tiny_overrides(**{"train.steps": 2, "eval.sets": "[retrieval/scenes]", "eval.maps": 2}))
    run = FakeRun()
    metrics = run_main(cfg, run, tmp_path)
    assert set(metrics) >= {"retrieval/scenes/i2t_r1", "retrieval/scenes/t2i_r1"}
    assert run.info["fingerprint"] == C.fingerprint(cfg) and run.info["skipped_samples"] == 0
    assert run.info["data"] == scenes.name and run.info["flops_per_sample"] > 0
    assert [n for n, _, s in run.scalars if n == "train/loss"] == ["train/loss"] * 2
    assert sorted(name for name, _ in run.artifacts) == ["attention_maps.npz", "items.npz"]
    assert load(tmp_path / "checkpoints" / run.info["fingerprint"] / "last.pt")["step"] == 2


@pytest.mark.parametrize("method", list(METHODS))
def test_two_runs_of_one_config_give_bit_identical_weights_and_metrics(scenes, tmp_path, method):
    """Every registered method, with 2 data workers: the same config trained twice gives the same weights to the
    bit and the same metrics (a table regenerates to the digit in one numeric environment)."""
    cfg = C.resolve(tiny_overrides(method, **{"data.workers": 2}))
    first, m_first = _run(cfg, tmp_path / "a")
    second, m_second = _run(cfg, tmp_path / "b")
    assert m_first == m_second
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("method", ["cosmos", "slip"])
def test_settings_the_fingerprint_calls_the_same_experiment_train_the_same_weights(scenes, tmp_path, method):
    """data.view_ops=exact with data.augment=device (photometric ops on the training device, Pillow's arithmetic)
    trains, with 2 data workers, the weights of the default worker path to the bit: what lets
    experiments.fingerprint.SAME_AS call them one experiment."""
    base = C.resolve(tiny_overrides(method, **{"data.workers": 2}))
    moved = C.resolve(tiny_overrides(method, **{"data.workers": 2, "data.view_ops": "exact",
                                                "data.augment": "device"}))
    assert C.fingerprint(base) == C.fingerprint(moved)
    first, m_first = _run(base, tmp_path / "a")
    second, m_second = _run(moved, tmp_path / "b")
    assert m_first == m_second
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("method,augment,workers,contrastive",
                         [(m, "workers", 0, "softmax") for m in METHODS] + [(m, "workers", 2, "softmax") for m in METHODS]
                         + [(m, "workers", 0, "sigmoid") for m in METHODS] + [("cosmos", "device", 0, "softmax")])
def test_interrupted_run_resumes_to_the_same_result(scenes, tmp_path, method, augment, workers, contrastive):
    cfg = C.resolve(tiny_overrides(method, **{"data.augment": augment, "data.workers": workers,
                                              f"{method}.contrastive": contrastive}))
    straight, m_straight = _run(cfg, tmp_path / "a")

    def crash_after_checkpoint(method):
        original = method.on_step_end

        def on_step_end(step, total):
            if step == 4:  # the checkpoint of step 3 is on disk; step 4 dies
                raise KeyboardInterrupt
            original(step, total)
        method.on_step_end = on_step_end

    with pytest.raises(KeyboardInterrupt):
        _run(cfg, tmp_path / "b", hook=crash_after_checkpoint)
    assert load(tmp_path / "b" / "last.pt")["step"] == 3
    logger = ListLogger()
    resumed, m_resumed = _run(cfg, tmp_path / "b", logger)
    assert logger.infos["resumed_from_step"] == 3
    assert m_resumed == m_straight
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def nan_loss_at_call(n: int):
    """A hook making the method's n-th forward return a NaN loss."""
    def poison(method):
        calls = {"n": 0}
        forward = method.forward

        def bad_forward(batch):
            out = forward(batch)
            calls["n"] += 1
            if calls["n"] == n:
                out["loss"] = out["loss"] * float("nan")
            return out
        method.forward = bad_forward
    return poison


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(scenes, tmp_path):
    cfg = C.resolve(tiny_overrides())
    with pytest.raises(NonFiniteLoss, match="kept the checkpoint of step 3"):
        _run(cfg, tmp_path, hook=nan_loss_at_call(5))
    assert load(tmp_path / "last.pt")["step"] == 3


def test_failed_sacred_run_is_marked_failed(scenes, tmp_path, monkeypatch):
    from methods import clip

    def nan_forward(self, batch):
        loss = torch.tensor(float("nan"), requires_grad=True)
        return {"loss": loss}

    monkeypatch.setattr(clip.CLIP, "forward", nan_forward)
    with pytest.raises(NonFiniteLoss):
        run_training(C.resolve(tiny_overrides()), tmp_path)
    assert json.loads((tmp_path / "1" / "run.json").read_text())["status"] == "FAILED"


@pytest.mark.parametrize("method,contrastive", [(m, c) for c in ("softmax", "sigmoid") for m in METHODS])
def test_loss_decreases_over_a_short_run(scenes, tmp_path, method, contrastive):
    cfg = C.resolve(tiny_overrides(method, **{"train.steps": 20, "train.lr": 2e-3, "train.ckpt_every": 100,
                                              f"{method}.contrastive": contrastive}))
    logger = ListLogger()
    _run(cfg, tmp_path, logger)
    """The total is finite and the image-text term falls. Self-distillation terms are not monotone over a short
    run (their target, the teacher, moves: DINO's loss typically rises first), so they are only checked finite."""
    curves = {n: [] for n, _, _ in logger.scalars}
    for n, v, _ in logger.scalars:
        curves[n].append(v)
    assert all(torch.isfinite(torch.tensor(curves[k])).all() for k in curves if k.endswith("loss"))
    losses = curves["train/clip_loss"]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_training_on_prepared_shards_still_evaluates_on_the_benchmark(scenes, tmp_path):
    cfg = C.resolve(tiny_overrides(**{"data.dataset": "shards", "data.shards": str(scenes / "train"),
                                      "train.steps": 2}))
    run = run_training(cfg, tmp_path)
    assert run.status == "COMPLETED" and "classification/scenes/top1" in run.result
    assert json.loads((tmp_path / "1" / "info.json").read_text())["data"] == str(scenes / "train")


def test_a_teacher_method_logs_its_student_beside_the_evaluated_teacher(scenes, tmp_path):
    """eval.other_weights: the tasks evaluated again with the other weights, logged as "<weights>/<metric>"; the
    configured weights stay what the table reads."""
    from experiments.experiment import run_main
    from methods.evals import EvalConfig, evaluate, evaluate_other_weights

    cfg = C.resolve(tiny_overrides("cosmos", **{"train.steps": 2, "eval.sets": "[retrieval/scenes]", "eval.maps": 0}))
    run = FakeRun()
    metrics = run_main(cfg, run, tmp_path)
    assert {"retrieval/scenes/i2t_r1", "student/retrieval/scenes/i2t_r1"} <= set(metrics)
    assert ("student/retrieval/scenes/i2t_r1", metrics["student/retrieval/scenes/i2t_r1"], 2) in run.scalars
    torch.manual_seed(0)
    method = build_method("cosmos", cfg.method_config, cfg.encoder).eval()
    with torch.no_grad():  # a student apart from its teacher, so the two sets of numbers differ
        for p in method.encoders.parameters():
            p.add_(0.5 * torch.randn_like(p))
    ev = EvalConfig(sets=("retrieval/scenes",), batch_size=64)
    teacher, other = evaluate(method, ev, scenes), evaluate_other_weights(method, ev, scenes)
    with method.evaluating("student"):
        student = evaluate(method, ev, scenes)
    assert other == {f"student/{k}": v for k, v in student.items()} and student != teacher
    assert method.eval_encoders() is method.teacher_encoders()  # restored after the block
    assert evaluate_other_weights(method, EvalConfig(sets=ev.sets, other_weights=()), scenes) == {}
    clip = build_method("clip", C.resolve(tiny_overrides()).method_config, "ViT-Micro-8-32")
    assert evaluate_other_weights(clip, ev, scenes) == {}  # one set of weights: nothing more


def test_tensorboard_event_files_hold_the_logged_scalars(scenes, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "tb"
    cfg = C.resolve(tiny_overrides(**{"train.steps": 4, "train.log_every": 1, "train.eval_every": 2,
                                      "eval.sets": ["retrieval/scenes"], "train.tensorboard": str(board)}))
    assert C.fingerprint(cfg) == C.fingerprint(C.resolve(tiny_overrides(**{
        "train.steps": 4, "train.log_every": 1, "train.eval_every": 2, "eval.sets": ["retrieval/scenes"]}))), \
        "where the event files go is not part of the experiment"
    run = run_training(cfg, tmp_path / "runs")
    assert run.status == "COMPLETED"
    (folder,) = board.iterdir()
    assert folder.name == f"clip-{C.fingerprint(cfg)}"
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "train/lr", "retrieval/scenes/i2t_r1"} <= set(tags)
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("retrieval/scenes/i2t_r1")] == [2, 4]
    assert events.Scalars("retrieval/scenes/i2t_r1")[-1].value == pytest.approx(run.result["retrieval/scenes/i2t_r1"])


def test_sigterm_marks_the_run_interrupted_and_the_command_exits_143(scenes, tmp_path):
    """SLURM's time limit or preemption, `kill`, a container stop: the run is recorded INTERRUPTED, not left
    RUNNING, and its checkpoint stays for the same command to resume."""
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    overrides = tiny_overrides(**{"train.steps": 5000, "train.ckpt_every": 2, "eval.sets": "[]"})
    proc = subprocess.Popen([sys.executable, str(ROOT / "experiments" / "run.py"), "train",
                             *(f"{k}={v}" for k, v in overrides.items()), "--runs-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list(tmp_path.glob("checkpoints/*/last.pt")) and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted: stopped by signal SIGTERM" in err
    assert json.loads((tmp_path / "1" / "run.json").read_text())["status"] == "INTERRUPTED"
    assert list(tmp_path.glob("checkpoints/*/last.pt"))


@pytest.mark.parametrize("locked", ["image", "text"])
def test_a_locked_tower_does_not_move_and_the_other_trains(scenes, tmp_path, locked):
    """train.lock_image / train.lock_text (LiT; open_clip's lock_image_tower / lock_text_tower): every weight of
    the locked tower equals its initialisation after training, the other tower's do not; COSMOS's teacher too."""
    for method in ("clip", "cosmos"):
        cfg = C.resolve(tiny_overrides(method, **{f"train.lock_{locked}": True, "train.steps": 3}))
        torch.manual_seed(cfg.seed)
        start = {k: v.clone() for k, v in build_method(cfg.method, cfg.method_config, cfg.encoder).state_dict().items()}
        trained, _ = _run(cfg, tmp_path / f"{method}-{locked}")
        text_keys = ("token_embedding", "positional_embedding", "transformer.", "ln_final", "text_projection")
        moved = {k for k, v in trained.state_dict().items() if k in start and not torch.equal(v, start[k])}
        tower = [k for k in start if ".model.visual." in k] if locked == "image" else \
            [k for k in start if ".model." in k and ".model.visual." not in k and
             any(f".model.{t}" in k for t in text_keys)]
        other = [k for k in start if ".model.visual." in k] if locked == "text" else \
            [k for k in start if any(f".model.{t}" in k for t in text_keys) and ".model.visual." not in k]
        assert tower and not moved & set(tower), (method, sorted(moved & set(tower))[:3])
        assert moved & set(other), f"{method}: the unlocked tower trains"


def test_throughput_scalars_and_the_profiler_switch(scenes, tmp_path):
    """Every logged step also logs samples/s and the share of time spent waiting for data (perf/*); with
    train.profile=N the profiler writes a Chrome trace and the top operators beside the checkpoint."""
    cfg = C.resolve(tiny_overrides(**{"train.steps": 5, "train.log_every": 1, "train.profile": 2}))
    logger = ListLogger()
    _run(cfg, tmp_path, logger)
    rate = [v for name, v, _ in logger.scalars if name == "perf/samples_per_s"]
    wait = [v for name, v, _ in logger.scalars if name == "perf/data_wait_frac"]
    assert len(rate) == len(wait) == 5 and all(r > 0 for r in rate) and all(0 <= w <= 1 for w in wait)
    assert (tmp_path / "profile" / "trace.json").stat().st_size > 0
    assert "Self CPU" in (tmp_path / "profile" / "ops.txt").read_text()
    default = C.resolve(tiny_overrides())
    assert C.fingerprint(cfg.to_dict() | {"train": cfg.to_dict()["train"] | {"profile": 0}}) == \
        C.fingerprint(C.resolve(tiny_overrides(**{"train.steps": 5, "train.log_every": 1}))), \
        "profiling changes no result: not in the fingerprint"
    assert default.train.lock_image is False and default.train.profile == 0


@pytest.mark.parametrize("contrastive", ["softmax", "sigmoid"])
@pytest.mark.parametrize("accum", [2, 4])
def test_accumulation_gives_one_big_batchs_loss_and_gradients_in_float64(contrastive, accum):
    """train.accum_freq (open_clip's --accum-freq: features of every micro-batch cached without gradient, then one
    pass per micro-batch with the loss over the whole batch): the same gradient as one big batch for every
    parameter, the temperature and bias included (open_clip counts theirs accum times; the suite averages)."""
    from methods.train import accumulated_backward
    from methods.data.views import random_batch

    cfg = C.resolve(tiny_overrides("clip", **{"clip.contrastive": contrastive}))
    torch.manual_seed(0)
    method = build_method("clip", cfg.method_config, cfg.encoder).double()
    batch = {k: v.double() if v.is_floating_point() else v
             for k, v in random_batch(method.views, 8, method.encoders.context_length, length=10, seed=3).items()}
    with torch.no_grad():  # a trained-looking temperature, not the initial one
        method.encoders.logit_scale.fill_(2.3)
    big = method(batch)
    big["loss"].backward()
    want = {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}
    method.zero_grad(set_to_none=True)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    out = accumulated_backward(method, method, batch, accum, scaler, "fp32", torch.device("cpu"))
    assert out["loss"].item() == pytest.approx(big["loss"].item(), rel=1e-12)
    got = {n: p.grad for n, p in method.named_parameters() if p.grad is not None}
    assert set(got) == set(want) and any("logit_scale" in n for n in got)
    for name, g in want.items():
        assert torch.allclose(got[name], g, rtol=1e-10, atol=1e-13), name


def test_accumulation_is_refused_where_it_cannot_equal_one_batch():
    from experiments.errors import ConfigError

    with pytest.raises(ConfigError, match="methods that accumulate: clip"):
        C.resolve(tiny_overrides("cosmos", **{"train.accum_freq": 2}))
    with pytest.raises(ConfigError, match="must divide train.batch_size"):
        C.resolve(tiny_overrides("clip", **{"train.accum_freq": 3}))


def test_a_tiny_run_with_accumulation_trains_close_to_one_without(scenes, tmp_path):
    cfg = C.resolve(tiny_overrides("clip", **{"train.accum_freq": 4, "train.steps": 3}))
    one = C.resolve(tiny_overrides("clip", **{"train.steps": 3}))
    assert C.fingerprint(cfg) != C.fingerprint(one)
    logs = ListLogger(), ListLogger()
    _run(cfg, tmp_path / "a", logs[0])
    _run(one, tmp_path / "b", logs[1])
    losses = [[v for name, v, _ in log.scalars if name == "train/loss"] for log in logs]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=1e-4)  # float32 rounding apart


def test_wandb_offline_logs_every_scalar_and_is_off_by_default(scenes, tmp_path, monkeypatch):
    """train.wandb=offline (optional package, never online): the run's scalars go to a W&B run in offline mode
    under <runs dir>/wandb; without the package it is one line before any work; off by default."""
    import importlib.machinery
    import importlib.util
    import sys
    import types

    from experiments.errors import ConfigError

    assert C.resolve(tiny_overrides()).train.wandb == ""
    with pytest.raises(ValueError, match="valid choices: '', 'offline'"):
        C.resolve(tiny_overrides(**{"train.wandb": "online"}))
    calls = {"init": [], "log": [], "finish": 0}

    class FakeRun:
        def log(self, values, step):
            calls["log"].append((values, step))

        def finish(self):
            calls["finish"] += 1

    fake = types.ModuleType("wandb")
    fake.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    fake.init = lambda **kw: calls["init"].append(kw) or FakeRun()
    cfg = C.resolve(tiny_overrides(**{"train.wandb": "offline", "train.steps": 2}))
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(ConfigError, match="needs the wandb package"):
            run_training(cfg, tmp_path / "none")
    monkeypatch.setitem(sys.modules, "wandb", fake)
    assert run_training(cfg, tmp_path).status == "COMPLETED"
    (init,) = calls["init"]
    assert init["mode"] == "offline" and init["dir"] == str(tmp_path / "wandb") and init["config"]["seed"] == 0
    logged = {name for values, _ in calls["log"] for name in values}
    assert {"train/loss", "retrieval/scenes/i2t_r1"} <= logged and calls["finish"] == 1
    assert C.fingerprint(cfg) == C.fingerprint(C.resolve(tiny_overrides(**{"train.steps": 2})))


@pytest.mark.parametrize("method", list(METHODS))
def test_bf16_autocast_runs_every_methods_step_on_the_cpu(method):
    """train.precision=bf16 runs under torch's CPU autocast (the regions a GPU uses): no dtype error in forward or
    backward, and the loss within 1e-2 relative of fp32's on the same weights and batch."""
    import copy

    from methods.data.views import random_batch
    from methods.train import autocast_context

    cfg = C.resolve(tiny_overrides(method))
    torch.manual_seed(0)
    m = build_method(method, cfg.method_config, cfg.encoder)
    batch = random_batch(m.views, 8, m.encoders.context_length, length=10, seed=2)
    cpu = torch.device("cpu")
    twin = copy.deepcopy(m)  # a forward may update state (a teacher's centre): each precision gets the same start
    with torch.no_grad():
        fp32 = twin(batch)["loss"].item()
    with autocast_context("bf16", cpu):
        out = m(batch)
    assert torch.is_autocast_enabled("cpu") is False
    out["loss"].backward()
    assert out["loss"].item() == pytest.approx(fp32, rel=1e-2)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in m.parameters())
    with autocast_context("bf16", cpu):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


@pytest.mark.parametrize("method", ["clip", "cosmos"])
def test_grad_checkpointing_gives_the_same_gradients_in_float64(method):
    """train.grad_checkpointing (open_clip's set_grad_checkpointing): the towers' blocks recomputed in backward,
    the same loss and gradients as keeping their activations."""
    from methods.data.views import random_batch

    cfg = C.resolve(tiny_overrides(method))
    torch.manual_seed(0)
    m = build_method(method, cfg.method_config, cfg.encoder).double()
    batch = {k: v.double() if v.is_floating_point() else v
             for k, v in random_batch(m.views, 4, m.encoders.context_length, length=10, seed=2).items()}
    grads = []
    for checkpointing in (False, True):
        m.encoders.model.set_grad_checkpointing(checkpointing)
        m.zero_grad(set_to_none=True)
        loss = m(batch)["loss"]
        loss.backward()
        grads.append((loss.item(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
    (l0, g0), (l1, g1) = grads
    assert l0 == pytest.approx(l1, rel=1e-12) and g0.keys() == g1.keys()
    assert all(torch.allclose(g0[k], g1[k], rtol=1e-10, atol=1e-14) for k in g0)
    assert m.encoders.model.transformer.grad_checkpointing
