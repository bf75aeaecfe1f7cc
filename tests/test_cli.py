"""The command line: bad configs fail fast with one line naming the key and the valid choices (exit code 2)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from experiments import config as C
from experiments.run import main

from .conftest import ROOT


@pytest.mark.parametrize("argv, message", [
    (["train", "method=clipp"], "unknown method 'clipp'; valid choices: clip, slip, silc, cosmos"),
    (["train", "train.stepz=3"], "unknown config key 'train.stepz'; valid keys in 'train': steps"),
    (["train", "train.steps=abc"], "config key 'train.steps' expects int, got 'abc'"),
    (["train", "train.precision=fp8"], "unknown precision 'fp8'; valid choices: auto, fp32, bf16, fp16"),
    (["train", "bogus=1"], "unknown config key 'bogus'; valid keys: method, scale, seed, encoder"),
    (["train", "scale=huge"], "unknown scale 'huge'; valid choices: tiny, small, paper"),
    (["train", "encoder=ViT-Q-1"], "unknown encoder 'ViT-Q-1'; valid choices: ViT-B-16"),
    (["train", "eval.sets=retrieval/mars"], "unknown evaluation 'retrieval/mars'; valid choices: retrieval/scenes"),
    (["train", "clip.caption=poem"], "unknown caption mode 'poem'; valid choices: raw, random, short, long"),
    (["train", "scale=paper"], "data.dataset=shards needs data.shards="),
    (["no_such_table"], "unknown manifest 'no_such_table'; valid choices: ablations, budget, clip_tiny, diagnosis, "
                        "siglip, size_pairs, slip_table, table1"),
    (["clip_tiny", "--scale", "paper"], "does not run at scale 'paper'; valid choices: tiny, small"),
    (["clip_tiny", "--rows", "SLIP"], "unknown row 'SLIP'; valid choices: CLIP"),
    (["table3", "--jobs", "0"], "--jobs must be >= 1, got 0"),
    (["all", "--jobs", "0"], "--jobs must be >= 1, got 0"),
    (["all", "--scale", "huge"], "unknown scale 'huge'; valid choices: tiny, small, paper"),
])
def test_bad_input_is_one_line_with_the_choices_and_exit_2(argv, message, capsys, tmp_path):
    assert main(argv + (["--runs-dir", str(tmp_path)] if argv[0] != "train" else [])) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir()), "nothing was written before the error"


def test_exit_code_from_a_real_process():
    proc = subprocess.run([sys.executable, "experiments/run.py", "train", "method=nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown method 'nope'")


def test_list_prints_every_manifest(capsys):
    from experiments import manifests

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in manifests.names())


def test_fingerprint_ignores_non_semantic_keys_only():
    base = C.resolve({"method": "clip"})
    assert C.fingerprint(base) == C.fingerprint(C.resolve({"method": "clip", "data.workers": 1}))  # one stream
    assert C.fingerprint(base) != C.fingerprint(C.resolve({"method": "clip", "data.workers": 2})), \
        "each worker reads its own shards: 2 workers make other batches (another experiment)"
    assert C.fingerprint(base) == C.fingerprint(C.resolve({"method": "clip", "train.log_every": 3}))
    assert C.fingerprint(base) == C.fingerprint(C.resolve({"method": "clip", "eval.paths.coco_images": "/data/coco"}))
    legacy = C.resolve({"method": "clip", "eval.coco_images": "/data/coco"})  # the older spelling of a location
    assert legacy.eval.paths == {"coco_images": "/data/coco"} and C.fingerprint(legacy) == C.fingerprint(base)
    with pytest.raises(C.ConfigError, match="valid keys in 'eval.paths'"):
        C.resolve({"method": "clip", "eval.paths.coco": "/data/coco"})
    assert C.fingerprint(base) != C.fingerprint(C.resolve({"method": "clip", "train.lr": 1e-4}))
    assert C.fingerprint(base) != C.fingerprint(C.resolve({"method": "clip", "seed": 1}))


def _as_logged_before_the_keys_existed(cfg: dict) -> dict:
    logged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    for section, key in C.ADDED_KEYS:
        if key is None:  # a top-level key
            del logged[section]
        elif section in logged:
            del logged[section][key]
    del logged["init"]
    return logged


def test_keys_added_later_keep_logged_runs_fingerprints_at_their_old_default():
    old_values = {s if k is None else f"{s}.{k}": v for (s, k), v in C.ADDED_KEYS.items()}
    for method in ("clip", "slip", "silc", "cosmos"):
        at_old = C.resolve({"method": method} | {k: v for k, v in old_values.items() if k.split(".")[0] in
                                                  ("data", "train", "eval", method, "context_length")})
        assert C.fingerprint(at_old) == C.fingerprint(_as_logged_before_the_keys_existed(at_old.to_dict())), method
    # a default that changed the computation changes the fingerprint: SiLC's interpolation, COSMOS's text crops,
    # EMA order and interpolation, and for every method the segmentation class names
    # (segmentation now scores with SCLIP's name files, so every default run differs from its logged one)
    for method in ("clip", "slip", "silc", "cosmos"):
        base = C.resolve({"method": method})
        assert C.fingerprint(base) != C.fingerprint(_as_logged_before_the_keys_existed(base.to_dict()))
    assert C.fingerprint(C.resolve({"method": "clip"})) != C.fingerprint(C.resolve({"data.view_ops": "fast"}))
    # a value that builds the same tensors (experiments.fingerprint.SAME_AS) is the same experiment
    assert C.fingerprint(C.resolve({"method": "clip"})) == C.fingerprint(C.resolve({"data.augment": "device",
                                                                                     "data.view_ops": "exact"}))


def test_values_parse_to_the_field_types():
    cfg = C.resolve({"train.lr": "0.01", "data.resampled": "true", "clip.crop_scale": "0.5,1.0",
                     "eval.sets": "retrieval/scenes"})
    assert cfg.train.lr == 0.01 and cfg.data.resampled is True
    assert cfg.clip.crop_scale == (0.5, 1.0) and cfg.eval.sets == ("retrieval/scenes",)


def test_dry_run_lists_cells_and_runs_nothing(capsys, tmp_path):
    assert main(["clip_tiny", "--dry-run", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "CLIP, 1000 steps seed=0" in out and "to run" in out and "steps=1000" in out
    assert "'train.eval_every': 100" in out, "a row's own settings are shown"
    assert not any(tmp_path.iterdir())


def test_all_dry_run_covers_every_manifest_at_the_scale(capsys, tmp_path):
    from experiments import manifests

    assert main(["all", "--dry-run", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"=== {name} (tiny) ===" in out for name in manifests.names())
    assert "to run" in out and out.rstrip().splitlines()[-1].startswith("all")
    assert not any(tmp_path.iterdir())


def test_all_dry_run_estimates_each_shared_cell_once_and_skips_on_request(capsys, tmp_path):
    # siglip shares table3's cells and sorts before table1: left out too, so table1 counts them
    assert main(["all", "--dry-run", "--skip", "budget,ablations,siglip", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "=== budget" not in out and "=== ablations" not in out and "=== table3 (tiny) ===" in out
    minutes = {ln.split()[0]: float(ln.split()[1]) for ln in out.split("estimated, one job")[1].splitlines()[1:] if ln}
    assert minutes["table1"] > 0 and minutes["table5"] > 0
    assert minutes["table2"] == minutes["table3"] == minutes["table4"] == 0, "their cells are table1's, counted there"
    assert abs(minutes["all"] - sum(v for k, v in minutes.items() if k != "all")) < 0.2
    assert "left out: ablations, budget, siglip" in out.splitlines()[-1]
    assert main(["all", "--skip", "tabel3"]) == 2
    assert "--skip: unknown manifest 'tabel3'" in capsys.readouterr().err


def test_all_report_only_writes_every_report_and_trains_nothing(capsys, tmp_path):
    from experiments import manifests

    runs, out = tmp_path / "runs", tmp_path / "reports"
    assert main(["all", "--report-only", "--skip", "budget", "--runs-dir", str(runs), "--out", str(out)]) == 0
    assert "missing (--report-only)" in capsys.readouterr().out
    assert all((out / f"{n}.md").exists() for n in manifests.names() if n != "budget")
    assert not (out / "budget.md").exists()
    # the only runs are the budget study's archived ones the tiny reports read as their 10x reference, restored
    logged = runs.rglob("run.json") if runs.exists() else []
    assert not [r for r in logged if not (r.parent / "restored_from").exists()]


def test_slurm_script_has_one_array_task_per_cell_and_is_valid_bash(tmp_path):
    import subprocess

    out = tmp_path / "table3.sh"
    assert main(["table3", "--slurm", str(out), "--seeds", "0,1", "--nodes", "2", "--gpus-per-node", "8",
                 "--set", "data.workers=4", "--logs", str(tmp_path / "logs")]) == 0
    text = out.read_text()
    assert "#SBATCH --array=0-9" in text and "#SBATCH --nodes=2" in text and "--nproc_per_node 8" in text
    assert "ROWS=(CLIP SLIP SiLC COSMOS DreamLIP CLIP" not in text  # cells are row-major: row x seeds
    assert ("ROWS=(CLIP CLIP SLIP SLIP SiLC SiLC COSMOS COSMOS DreamLIP DreamLIP)" in text
            and "SEEDS=(0 1 0 1 0 1 0 1 0 1)" in text)
    assert "--set data.workers=4" in text
    subprocess.run(["bash", "-n", str(out)], check=True)
    assert f"#SBATCH --chdir={ROOT}" in text and f" {sys.executable} -m torch.distributed.run " in text
    assert "#SBATCH --partition" not in text and "#SBATCH --account" not in text  # only when given
    logs = tmp_path / "slurm-logs"
    assert main(["diagnosis", "--scale", "tiny", "--slurm", str(out), "--rows", "R3 COSMOS, student evaluated",
                 "--seeds", "0", "--partition", "gpu", "--account", "proj1", "--time", "4:00:00",
                 "--cpus-per-task", "32", "--mem", "480G", "--logs", str(logs)]) == 0
    text = out.read_text()
    for line in ("--partition=gpu", "--account=proj1", "--time=4:00:00", "--cpus-per-task=32", "--mem=480G",
                 f"--output={logs}/diagnosis-%A_%a.out", "--array=0-0"):
        assert f"#SBATCH {line}" in text, line
    assert logs.is_dir(), "SLURM does not create the log folder: writing the script does"
    assert "ROWS=('R3 COSMOS, student evaluated')" in text
    subprocess.run(["bash", "-n", str(out)], check=True)


def test_paper_recipes_resolve_the_official_scripts_values():
    from experiments.recipes import RECIPES

    cfg = C.resolve({"method": "cosmos", "scale": "paper", "data.shards": "/d"})  # default recipe: cc3m
    assert (cfg.recipe, cfg.train.batch_size, cfg.train.steps) == ("cc3m", 1024, 32 * 2768)
    assert (cfg.train.precision, cfg.cosmos.ema_momentum, cfg.cosmos.ema_order) == \
        ("fp16", 0.999, "before_step")
    # CC12M: ceil(10,010,225 / 4096) = 2444 batches, rounded up to 16 loader workers: 2448 per epoch
    cc12m = C.resolve({"method": "silc", "scale": "paper", "data.shards": "/d", "recipe": "cc12m"})
    assert (cc12m.train.batch_size, cc12m.train.steps, cc12m.silc.ema_momentum) == \
        (4096, 32 * 2448, 0.99)
    assert C.fingerprint(cfg) == C.fingerprint(dataclasses.replace(cfg, recipe="", recipe_samples=0))  # only its values count
    slip = C.resolve({"method": "slip", "scale": "paper", "data.shards": "/d", "recipe": "slip_yfcc15m",
                      "recipe_samples": "14000000"})
    t = slip.train
    assert (t.lr, t.weight_decay, t.warmup, t.warmup_start, t.min_lr, t.steps) == \
        (3e-3, 0.1, 3417, 1e-6, 1e-5, 25 * 3417)  # floor(14e6 / 4096) = 3417 steps per epoch, 1 epoch of warmup
    assert slip.slip.interpolation == "bilinear" and slip.eval.imagenet_templates == "slip7"
    clip = C.resolve({"method": "clip", "scale": "paper", "data.shards": "/d", "recipe": "slip_yfcc15m",
                      "recipe_samples": "14000000"})
    assert (clip.train.lr, clip.train.weight_decay) == (5e-4, 0.5)
    with pytest.raises(C.ConfigError, match="recipe slip_yfcc15m takes its training-set size from your data"):
        C.resolve({"method": "slip", "scale": "paper", "data.shards": "/d", "recipe": "slip_yfcc15m"})
    with pytest.raises(C.ConfigError, match="applies at scale=paper only"):
        C.resolve({"recipe": "cc3m"})
    with pytest.raises(C.ConfigError, match="unknown recipe 'cc4m'; valid choices: cc3m, cc12m"):
        C.resolve({"scale": "paper", "data.shards": "/d", "recipe": "cc4m"})
    assert set(RECIPES) == {"cc3m", "cc12m", "yfcc15m", "merged30m", "pixelprose", "slip_yfcc15m"}


def test_the_recipes_printout_flags_every_field_that_differs(capsys):
    assert main(["recipes", "--recipe", "cc3m", "--method", "cosmos"]) == 0
    out = capsys.readouterr().out
    assert "30 of 30 audited fields equal the official values (100%)" in out and "--momentum-teacher 0.999" in out
    assert main(["recipes", "--recipe", "cc3m", "--method", "cosmos", "--set", "train.lr=1e-3"]) == 0
    out = capsys.readouterr().out
    assert "train.lr" in out and "<-- DIFFERS" in out and "29 of 30" in out
    assert main(["recipes", "--recipe", "slip_yfcc15m", "--samples", "14000000"]) == 0
    out = capsys.readouterr().out
    assert "deviation: Evaluation resize" in out and "Normalisation" not in out
    assert all(f"{key} " in out for key in ("text_act", "image_norm")) and "DIFFERS" not in out


def test_config_prints_the_resolved_config_and_its_fingerprint(capsys):
    import json

    assert main(["config", "method=cosmos", "scale=tiny", "train.steps=7"]) == 0
    out, err = capsys.readouterr()
    cfg = json.loads(out)
    expected = C.resolve({"method": "cosmos", "scale": "tiny", "train.steps": "7"})
    assert cfg == json.loads(json.dumps(expected.to_dict(), default=list))
    assert cfg["cosmos"]["local_size"] == 0 and cfg["train"]["steps"] == 7  # v5's local-size rule, the override
    assert err.splitlines()[0] == f"fingerprint: {C.fingerprint(expected)}"
    assert main(["config", "cosmos.local_cropz=1"]) == 2  # validated like train


def test_config_says_what_the_context_cuts_of_the_training_texts(capsys):
    """v5's context rule covers the test captions (48 tokens); COSMOS trains on text crops of up to 5 sentences,
    a quarter of which are longer: `config` says so, measured with the run's own text views."""
    assert main(["config", "method=cosmos", "scale=tiny"]) == 0
    err = capsys.readouterr().err
    import re

    share = float(re.search(r"note: ([0-9.]+)% of the global texts of view 'texts' exceed the context of 48", err)[1])
    assert 15 < share < 40
    assert main(["config", "method=clip", "scale=tiny"]) == 0
    assert "exceed the context" not in capsys.readouterr().err  # CLIP's whole captions fit, as the rule intends


def test_config_prints_a_paper_scale_config_without_data(capsys):
    """Printing a config needs no data: `config scale=paper` (README) resolves and notes what train will need."""
    import json

    assert main(["config", "method=cosmos", "scale=paper"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["data"]["shards"] == "" and "data.shards=" in err


def test_config_prints_what_a_rule_derives_as_the_run_uses_it(capsys):
    """v5's horizon rule sets COSMOS's teacher momentum from the run's length: `config` says the value the run
    uses (the method's own rule, methods/multicrop.py), not only the field's default; a run without the rule has
    none."""
    from methods.modules import OFFICIAL_EMA_HORIZON, horizon_momentum

    assert main(["config", "method=cosmos", "scale=tiny"]) == 0
    err = capsys.readouterr().err
    used = horizon_momentum(OFFICIAL_EMA_HORIZON, C.resolve({"method": "cosmos"}).train.steps)
    assert 0.1 < used < 0.2 and f"derived: cosmos.ema_momentum = {used:.6g}" in err
    assert C.resolve({"method": "cosmos", "cosmos.ema_momentum": "0.99"}).derived == {}  # the rule yields to it
    assert main(["config", "method=clip"]) == 0 and "derived" not in capsys.readouterr().err


def test_train_help_lists_every_key_with_its_default_and_documentation(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help", "method=silc"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    keys = [line.split()[0] for line in out.splitlines() if re.match(r"  [a-z]+\.", line)]
    expected = [f"{s}.{k}" for s in ("train", "data", "eval", "silc")
                for k in C.defaults("silc")[s]]
    assert keys == expected
    assert "Weight of the self-distillation term" in out  # a field docstring (silc.distill_weight)
    assert "train.grad_clip" in out and "max grad norm; 0 disables" in out  # a field's comment
    assert "cosmos." not in out  # only the named method's section


def test_field_docs_read_docstrings_trailing_and_leading_comments():
    import dataclasses

    from experiments.keys import field_docs

    @dataclasses.dataclass
    class Demo:
        a: int = 1
        """A's docstring."""
        b: int = 2  # b's comment
        # c's comment,
        # on two lines
        c: int = 3
        d: int = 4

    assert field_docs(Demo) == {"a": "A's docstring.", "b": "b's comment", "c": "c's comment, on two lines", "d": ""}


def test_a_run_is_quiet_and_ends_with_its_folder_and_a_short_metrics_table(scenes, tmp_path, capfd):
    """No open_clip or sacred INFO lines unless -v; the run's folder and its metrics to 2 decimals at the end."""
    args = ["train", "encoder=ViT-Micro-8-32", "data.scenes=test", "data.workers=0", "train.batch_size=8",
            "train.steps=1", "eval.sets=[retrieval/scenes]", "eval.maps=0", "--runs-dir", str(tmp_path)]
    assert main(args) == 0
    out, err = capfd.readouterr()
    assert f"run 1 COMPLETED: {tmp_path / '1'}" in out
    assert re.search(r"^  retrieval/scenes/i2t_r1 +\d+\.\d\d$", out, re.M), out
    assert "INFO" not in out + err and "{'" not in out, (out, err)
    import json

    assert isinstance(json.loads((tmp_path / "1" / "info.json").read_text())["environment"]["torch"], str)


def test_manifests_take_bare_key_value_overrides_as_train_does(capsys):
    assert main(["table3", "--dry-run", "train.steps=5", "--seeds", "0"]) == 0
    bare = capsys.readouterr().out
    assert main(["table3", "--dry-run", "--set", "train.steps=5", "--seeds", "0"]) == 0
    assert capsys.readouterr().out == bare and "steps=5 " in bare
    assert main(["table3", "--dry-run", "train.steps=0"]) == 2
    assert "train.steps=0 must be > 0" in capsys.readouterr().err
    # --set is repeatable: every one counts (not only the last)
    assert main(["table3", "--dry-run", "--set", "train.steps=5", "--set", "batch=1", "--seeds", "0"]) == 2
    assert "batch" in capsys.readouterr().err
    assert main(["table3", "--dry-run", "--set", "train.steps=5", "--set", "train.batch_size=8", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "steps=5 " in out and "batch=8" in out


def test_evaluation_shows_a_bar_per_set_on_request_and_none_in_logs(scenes, capsys):
    from methods.evals import EvalConfig, evaluate

    from .test_methods import _build

    method = _build("clip").eval()
    cfg = EvalConfig(sets=("retrieval/scenes", "classification/scenes"))
    evaluate(method, cfg, scenes, progress=True)
    err = capsys.readouterr().err
    assert "evaluate" in err and "retrieval/scenes" in err and "classification/scenes" in err and "1/2" in err
    evaluate(method, cfg, scenes)  # stderr is not a terminal here: no bar
    assert "evaluate" not in capsys.readouterr().err


def test_every_command_has_help_and_the_cli_is_a_table(capsys):
    """Each command's parser comes from the command table (experiments/run.py COMMANDS, a manifest's name for the
    manifest command): `run.py <cmd> --help` works for every one; the dispatch is a lookup, not an if-chain, and
    asks the Method contract, not hasattr, what a method is."""
    import ast

    from experiments import manifests
    from experiments.run import COMMANDS

    for name in [*COMMANDS, *manifests.names()]:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0, name
        assert f"usage: run.py {name}" in capsys.readouterr().out, name
    source = "".join((ROOT / "experiments" / f).read_text() for f in ("run.py", "commands.py"))
    assert "hasattr(" not in source
    compares_argv = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Compare)
                     and "argv[0]" in ast.unparse(n.left) and not isinstance(n.ops[0], ast.In)]
    assert not compares_argv, "a command chosen by comparing argv[0]"


def test_a_run_builds_its_typed_config_once(scenes, tmp_path, monkeypatch):
    """resolve() builds the frozen RunConfig once; the sacred run rebuilds it once from the dict it records (what
    is recorded is what runs); nothing else along the way builds one, and the method's Config is made once per
    build (its defaults once per process, before)."""
    from experiments.experiment import run_training
    from methods.cosmos import COSMOSConfig

    from .conftest import tiny_overrides

    builds, configs = [], []
    real_build, real_post_init = C._build, COSMOSConfig.__post_init__
    monkeypatch.setattr(C, "_build", lambda node: builds.append(1) or real_build(node))
    monkeypatch.setattr(COSMOSConfig, "__post_init__", lambda self: configs.append(1) or real_post_init(self))
    run = C.resolve(tiny_overrides("cosmos", **{"train.steps": 1, "eval.sets": "[retrieval/scenes]",
                                                "eval.maps": 0}))
    assert len(builds) == 1
    builds.clear(), configs.clear()
    assert run_training(run, tmp_path).status == "COMPLETED"
    assert len(builds) == 1, "the run rebuilds the typed config once, from what sacred records"
    assert len(configs) == 1


@pytest.mark.parametrize("flag,value,word", [
    ("--partition", "gpu\ntouch /tmp/pwned", "newline or control character"),
    ("--account", "me\rx", "newline or control character"),
    ("--mem", "480G\necho hi", "newline or control character"),
    ("--time", "yesterday", "none of SLURM's formats"),
    ("--nodes", "0", "--nodes must be an integer >= 1"),
    ("--gpus-per-node", "-1", "--gpus-per-node must be an integer >= 0"),
    ("--cpus-per-task", "-3", "--cpus-per-task must be an integer >= 0"),
    ("--partition", "gpu;rm", "is not a SLURM name"),
])
def test_slurm_values_never_reach_the_script_unchecked(tmp_path, capsys, flag, value, word):
    """#SBATCH lines are shell text: a newline in a value would add a command to the job. Every value is checked
    and refused in one line before the script is written."""
    script = tmp_path / "job.sh"
    assert main(["table3", "--slurm", str(script), "--logs", str(tmp_path / "logs"), flag, value,
                 "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert word in err and err.count("\n") == 1 and not script.exists()


def test_slurm_script_into_a_folder_is_one_line(tmp_path, capsys):
    assert main(["table3", "--slurm", str(tmp_path), "--logs", str(tmp_path / "logs"),
                 "--runs-dir", str(tmp_path / "r")]) == 2
    assert "a folder; give the script's file name" in capsys.readouterr().err
