"""The commands of experiments/run.py: one handler per command (parsed arguments -> exit code) and the option
groups their parsers take, each defined once (experiments/run.py COMMANDS puts them together)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.make import compare
from experiments import config as C
from experiments import manifests, plan
from experiments import recipes as R
from experiments.errors import ConfigError
from experiments.experiment import launch_rank, run_training
from experiments.layout import completed_runs
from experiments.plan import cells
from experiments.preflight import MISSING_SHARDS, writable_folder
from experiments.scales import BENCHMARKS, SCALES, TINY_BENCHMARK, estimate_seconds, training_text_cut
from experiments.slurm import SlurmOptions, slurm_script
from methods import METHODS, build_method, interop
from methods.checkpoint import load
from methods.data.prepare import SOURCES, prepare
from methods.data.scenes import PRESETS, ensure_scenes
from methods.interop import checkpoint_encoder

# --- option groups, each defined once and shared by the commands that take it -------------------------------


def runs_options(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="sacred FileStorageObserver folder")
    p.add_argument("--mongo", default=None, help="also record runs to this MongoDB URL (Omniboard)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print open_clip's and sacred's INFO lines")


def set_options(p: argparse.ArgumentParser, what: str = "override a key in every cell (repeatable)") -> None:
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help=what)


def table_options(p: argparse.ArgumentParser, argv=()) -> None:
    """What a manifest and `all` share: the scale, planning, reports, the cells' overrides and the archive."""
    from experiments.archive import DEFAULT

    p.add_argument("--scale", default="tiny")
    p.add_argument("--dry-run", action="store_true", help="print the cells, their configs and estimated minutes; "
                   "run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the table, figures and report from the runs logged so far")
    set_options(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="the same as --set (train's syntax)")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where tables/ is written")
    p.add_argument("--jobs", type=int, default=1, help="cells trained at once, each in its own process with "
                   "cores / jobs threads (default 1)")
    p.add_argument("--archive", type=Path, nargs="?", const=DEFAULT, default=None, metavar="DIR",
                   help=f"restore the cells' runs from this run archive first and archive each run as it completes "
                        f"(records without weights, to commit; default DIR: {DEFAULT})")


def slurm_options(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("--slurm", type=Path, default=None, metavar="FILE",
                   help="write a SLURM array script (one multi-node torchrun per cell) instead of running")
    p.add_argument("--nodes", type=int, default=2, help="nodes per cell for --slurm")
    p.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node for --slurm")
    p.add_argument("--time", default="72:00:00", help="--slurm: wall-time limit per cell")
    p.add_argument("--partition", default="", help="--slurm: partition")
    p.add_argument("--account", default="", help="--slurm: account")
    p.add_argument("--cpus-per-task", type=int, default=0, help="--slurm: CPUs per node task (0: cluster default)")
    p.add_argument("--mem", default="", help="--slurm: memory per node, e.g. 480G (default: cluster default)")
    p.add_argument("--logs", type=Path, default=None, help="--slurm: log folder (default: <checkout>/logs)")


def seeds_option(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the manifest's)")


def config_options(p: argparse.ArgumentParser, argv: list[str], example: str) -> None:
    """key=value overrides; with -h every config key, its default and its documentation after the usage (only
    the given method's own keys when method=M is among the arguments)."""
    p.add_argument("overrides", nargs="*", help=f"key=value, e.g. {example}")
    if not {"-h", "--help"} & set(argv):
        return

    method = next((a.split("=", 1)[1] for a in argv if a.startswith("method=")), None)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("config keys (key=value) with their defaults, the papers' values; a scale changes sizes and steps "
                "(`run.py config method=M scale=S` prints a resolved config):\n" + C.key_listing(method))


def verbosity(args) -> None:
    import os

    if getattr(args, "verbose", False):
        os.environ["COSMOS_SUITE_VERBOSE"] = "1"  # read where the loggers are set up (worker processes inherit it)


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def _seeds(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(s) for s in text.split(",")) if text else None
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {text!r}") from None


# --- the commands: each a handler of its parsed arguments ----------------------------------------------------


def cmd_list(args) -> int:
    for name in manifests.names():
        m = manifests.load(name)
        print(f"{name:16s} {m.TITLE}  [scales: {', '.join(m.SCALES)}; rows: {len(m.ROWS)}; "
              f"seeds: {len(manifests.seeds(m, 'tiny'))} at tiny, {len(m.SEEDS)} above]")
    return 0


def _run_config(args, needs_checkpoint: bool = False):
    """The resolved config of train's and eval's key=value arguments (an eval's checkpoint may name its encoder)."""

    overrides = _overrides(args.overrides)
    if needs_checkpoint and not overrides.get("checkpoint"):
        raise ConfigError("eval needs checkpoint=PATH (a local open_clip, Hugging Face, COSMOS or suite checkpoint)")
    if overrides.get("checkpoint") and is_run_folder(Path(overrides["checkpoint"])):  # runs/<id>: its checkpoint
        overrides["checkpoint"] = str(run_checkpoint(Path(overrides["checkpoint"]), None, "eval"))
    if overrides.get("checkpoint") and "encoder" not in overrides:  # the checkpoint may name its own

        named = checkpoint_encoder(overrides["checkpoint"]) or {}
        for key, value in named.items():  # the encoder it names, its context and its text and image settings
            if key == "encoder" or value:
                overrides.setdefault(key, value)
    return C.resolve(overrides)


def cmd_train(args, needs_checkpoint: bool = False) -> int:
    """One training run of `key=value` overrides and its evaluations, recorded by sacred."""
    run_config = _run_config(args, needs_checkpoint)

    run = run_training(run_config, args.runs_dir, args.mongo)
    if launch_rank() == 0:  # the rank that records the run (the others have no run id)
        print(run_summary(run, args.runs_dir))
    return 0 if run.status == "COMPLETED" else 1


def cmd_eval(args) -> int:
    """Eval-only: checkpoint=PATH (open_clip state dict or COSMOS release file, checkpoint_weights=student|teacher)
    loaded strictly into encoder=E; evaluations from eval.sets; recorded as a sacred run like a training run."""
    return cmd_train(args, needs_checkpoint=True)


def cmd_config(args) -> int:
    """The resolved config of `key=value` overrides (defaults <- scale <- recipe <- overrides), validated, as JSON on
    stdout, and on stderr its fingerprint and what the rules derive from it when the run starts: what `train`
    would run, without running it."""
    run = C.resolve(_overrides(args.overrides))
    print(json.dumps(run.to_dict(), indent=2, default=list))
    print(f"fingerprint: {C.fingerprint(run)}", file=sys.stderr)
    for key, value in run.derived.items():
        print(f"derived: {key} = {value:.6g} (the run uses this, not the value above)", file=sys.stderr)
    if run.data.dataset == "shards" and not run.data.shards and not run.checkpoint:
        print(f"note: {MISSING_SHARDS} before it trains", file=sys.stderr)
    if run.data.dataset == "scenes" and not run.checkpoint:  # what the context cuts of the training texts
        method = build_method(run.method, run.method_config, run.encoder, run.context_length, run.text_act,
                              run.image_norm)
        context = method.encoders.context_length
        for cut in training_text_cut(method, run.data.scenes, context, records=500):
            if cut.cut:
                print(f"note: {cut.line(context)}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    """Export a trained run's weights: `open_clip` writes a folder (open_clip_config.json +
    open_clip_model.safetensors, the evaluation weights as configured) that `open_clip.create_model_and_transforms(
    "local-dir:OUT")` loads; `release` writes a COSMOS method in the official release layout (student + teacher)."""

    if not (args.source.is_dir() or args.source.is_file()):
        raise ConfigError(f"export: {args.source} is neither a run folder nor a checkpoint file")
    # where it writes, checked before any weights are read: a folder (open_clip) or a file in one (release)
    if args.format == "open_clip" and args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"export: {args.out} is a file; the open_clip format writes a folder")
    if args.format == "release" and args.out.is_dir():
        raise ConfigError(f"export --format release: {args.out} is a folder; give the release file's name")
    writable_folder(args.out if args.format == "open_clip" else args.out.parent, "export target")
    method = _export_method(args.source, args.runs_dir)
    if args.format == "release":
        if not method.release_layout:
            raise ConfigError(f"export --format release: the release layout holds a COSMOS model with distillation "
                              f"and the softmax image-text term, not this {method.name}")
        out = interop.export_release(method, args.out)
    else:
        out = interop.export_open_clip(method, args.out)
    print(f"exported {method.name} ({method.encoders.name}) to {out}")
    return 0


def export_args(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("source", type=Path, help="a run folder (runs/<id>) or a suite checkpoint (.../last.pt)")
    p.add_argument("out", type=Path, help="the folder (open_clip) or file (release) to write")
    p.add_argument("--format", choices=("open_clip", "release"), default="open_clip")
    p.add_argument("--runs-dir", type=Path, default=None, help="where a run folder's checkpoints lie (default: "
                   "the run folder's parent)")


def is_run_folder(path: Path) -> bool:
    return (Path(path) / "info.json").is_file() and (Path(path) / "config.json").is_file()


def run_checkpoint(source: Path, runs_dir: Path | None, command: str) -> Path:
    """The checkpoint of a run folder (runs/<id>): its fingerprint's <runs dir>/checkpoints/<fp>/last.pt."""
    info = source / "info.json"
    try:
        fp = json.loads(info.read_text()).get("fingerprint") if info.is_file() else None
    except (OSError, ValueError, AttributeError):
        raise ConfigError(f"{command}: {info} is not a run's info.json (unreadable JSON)") from None
    if fp is not None and not (isinstance(fp, str) and len(fp) == 16 and all(c in "0123456789abcdef" for c in fp)):
        raise ConfigError(f"{command}: {info} names no fingerprint (16 hex digits)")
    if not fp:
        raise ConfigError(f"{command}: {source} is not a run folder (no info.json with a fingerprint)")
    path = (runs_dir or source.parent) / "checkpoints" / fp / "last.pt"
    if not path.is_file():
        raise ConfigError(f"{command}: run {source.name} left no checkpoint ({path} is missing)")
    return path


def _export_method(source: Path, runs_dir: Path | None):
    """The trained method of a checkpoint file, or of a run folder (runs/<id>: its fingerprint's
    runs/checkpoints/<fp>/last.pt; built from the run's config.json when the checkpoint predates recording it)."""
    if source.is_file():
        return interop.method_from_checkpoint(source)
    path = run_checkpoint(source, runs_dir, "export")
    ckpt = load(path)
    if isinstance(ckpt.get("method"), str):
        if ckpt["method"] not in METHODS:
            raise ConfigError(f"export: {path} holds an unknown method {ckpt['method']!r}; valid choices: "
                              f"{', '.join(METHODS)}")
        return interop.method_from_checkpoint(path, ckpt)
    try:
        run = C.typed(json.loads((source / "config.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exn:
        raise ConfigError(f"export: {source / 'config.json'} is unreadable ({str(exn).splitlines()[0][:120]})") \
            from None
    method = build_method(run.method, run.method_config, run.encoder, run.context_length, run.text_act,
                          run.image_norm)
    method.load_state_dict(ckpt["model"])
    return method


def run_summary(run, runs_dir: Path) -> str:
    """What a finished run prints: its status and folder, then its metrics, one per line, to 2 decimals."""
    result = {k: v for k, v in (run.result or {}).items() if isinstance(v, (int, float))}
    width = max((len(k) for k in result), default=0)
    lines = [f"run {run._id} {run.status}: {Path(runs_dir) / str(run._id)}"]
    lines += [f"  {k:<{width}}  {v:8.2f}" for k, v in result.items() if not k.endswith("skipped_images")]
    return "\n".join(lines)


def cmd_data(args) -> int:
    """Generate the synthetic benchmark (a scenes preset) into the data folder."""

    if args.scale not in PRESETS:
        raise ConfigError(f"unknown scale {args.scale!r}; valid choices: {', '.join(PRESETS)}")
    out = ensure_scenes(PRESETS[args.scale])
    print(f"scenes benchmark ready: {out} (card: {out / 'CARD.md'})")
    return 0


def data_args(p: argparse.ArgumentParser, argv=()) -> None:
    default = BENCHMARKS[TINY_BENCHMARK]["data.scenes"]
    p.add_argument("name", choices=["scenes"])
    p.add_argument("--scale", "--preset", dest="scale", default=default,
                   help=f"a scenes preset: tiny-v5 (v5), tiny (v4), test, small, paper (methods/data/scenes; "
                        f"default {default}, the tiny scale's benchmark)")


def cmd_prepare(args) -> int:
    """Convert local data into webdataset shards."""

    try:
        stats = prepare(args.source, args.input, args.output, args.captions, args.shard_size, args.image_col,
                        args.caption_col)
    except (FileNotFoundError, ValueError) as exn:
        raise ConfigError(str(exn)) from None
    print(f"wrote {stats['written']} samples in {stats['shards']} shards to {args.output}; "
          f"skipped {stats['skipped']} unreadable or uncaptioned rows")
    return 0


def prepare_args(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("source", choices=SOURCES)
    p.add_argument("input", type=Path, help="image folder, or img2dataset output folder")
    p.add_argument("output", type=Path, help="folder for shard-NNNNNN.tar")
    p.add_argument("--captions", type=Path, default=None, help="CSV / JSONL / JSON captions (folder, dreamlip)")
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--image-col", default="image")
    p.add_argument("--caption-col", default="caption")


def cmd_manifest(args) -> int:
    """Train the missing cells of a manifest, then write its LaTeX table, figures and report."""
    from experiments.orchestrate import run_manifest

    name = args.command
    seeds = _seeds(args.seeds)
    rows = plan.parse_rows(args.rows, manifests.load(name), args.scale) if args.rows else None
    overrides = _overrides([*args.set, *args.overrides])
    if args.slurm:
        todo = plan.cells(manifests.load(name), args.scale, seeds, rows, overrides)
        try:
            opts = SlurmOptions(args.nodes, args.gpus_per_node, args.time, args.partition, args.account,
                                args.cpus_per_task, args.mem, **({"logs": args.logs} if args.logs else {}))
        except ValueError as exn:
            raise ConfigError(f"--slurm: {exn}") from None
        if args.slurm.is_dir():
            raise ConfigError(f"--slurm {args.slurm}: a folder; give the script's file name")
        args.slurm.write_text(slurm_script(name, todo, args.scale, str(args.runs_dir), [*args.set, *args.overrides],
                                           opts))
        print(f"wrote {args.slurm}: {len(todo)} array tasks of {args.nodes} x {args.gpus_per_node} GPUs; "
              f"submit with: sbatch {args.slurm}")
        return 0
    run_manifest(name, args.scale, seeds, rows, args.runs_dir, args.mongo, args.dry_run, args.out, overrides,
                 args.jobs, args.report_only, args.archive)
    return 0


def manifest_args(p: argparse.ArgumentParser, argv=()) -> None:
    seeds_option(p)
    p.add_argument("--rows", default=None, help="comma-separated row labels (default: all)")
    slurm_options(p)


def cmd_recipes(args) -> int:
    """Each method's resolved paper-scale config beside the official value and its source, field by field."""

    if args.scale != "paper":
        raise C.ConfigError(f"recipes apply at scale=paper only, got --scale {args.scale}")
    names = [R.recipe(args.recipe).name] if args.recipe else list(R.RECIPES)
    if args.method and args.method not in METHODS:
        raise C.ConfigError(f"unknown method {args.method!r}; valid choices: {', '.join(METHODS)}")
    total = same = 0
    for name in names:
        r = R.recipe(name)
        samples = args.samples
        if r.samples is None and not args.samples:
            print(f"## {name}: {r.script}\n(needs --samples N: the official steps come from your data)\n")
            continue
        for method in [args.method] if args.method else list(METHODS):
            run = C.resolve({"method": method, "scale": "paper", "data.shards": "/data", "recipe": name,
                             "recipe_samples": samples, **_overrides(args.set)})
            rows = C.recipe_audit(name, method, run, samples)
            total += len(rows)
            same += sum(ok for *_, ok in rows)
            print(f"## {name} / {method}: {r.script}")
            print(f"{'field':28s} {'suite':>14s} {'official':>14s}  source")
            for key, value, official, source, ok in rows:
                print(f"{key:28s} {str(value):>14s} {str(official):>14s}  {source}{'' if ok else '  <-- DIFFERS'}")
        for d in r.deviations:
            print(f"deviation: {d}")
        print()
    print(f"{same} of {total} audited fields equal the official values ({100 * same / max(total, 1):.0f}%)")
    return 0


def recipes_args(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("--recipe", default=None, help=f"one of {', '.join(R.RECIPES)} (default: all)")
    p.add_argument("--method", default=None, help=f"one of {', '.join(METHODS)} (default: all)")
    p.add_argument("--scale", default="paper", help="recipes apply at paper scale only")
    p.add_argument("--samples", type=int, default=0, help="training-set size where a recipe takes it from the data")
    set_options(p, "audit a config with these overrides (repeatable)")


def cmd_all(args) -> int:
    """Every manifest that runs at the scale (shared cells train once), then a per-manifest time summary: the
    measured minutes, or with --dry-run the estimated minutes of the cells still to train (each counted once)."""
    import time

    from experiments.orchestrate import run_manifest

    overrides = _overrides([*args.set, *args.overrides])
    if args.scale not in SCALES:
        raise ConfigError(f"unknown scale {args.scale!r}; valid choices: {', '.join(SCALES)}")
    skip = [n for n in args.skip.split(",") if n]
    unknown = [n for n in skip if n not in manifests.names()]
    if unknown:
        raise ConfigError(f"--skip: unknown manifest {unknown[0]!r}; valid choices: {', '.join(manifests.names())}")
    names = [n for n in manifests.names() if args.scale in manifests.load(n).SCALES and n not in skip]
    t_all, times = time.time(), {}
    planned: set[str] = set()
    for name in names:
        print(f"=== {name} ({args.scale}) ===", flush=True)
        t0 = time.time()
        run_manifest(name, args.scale, runs_dir=args.runs_dir, mongo_url=args.mongo, dry_run=args.dry_run,
                     out_dir=args.out, overrides=overrides, jobs=args.jobs, report_only=args.report_only,
                     archive=args.archive)
        times[name] = time.time() - t0
        if args.dry_run:  # the estimate of what this manifest would train that no earlier one did
            planned |= set(completed_runs(args.runs_dir))  # logged, or restored by --archive just now
            new = {c.fingerprint: c for c in cells(manifests.load(name), args.scale, overrides=overrides)
                   if c.fingerprint not in planned}
            planned |= set(new)
            times[name] = sum(estimate_seconds(c.config) or 0.0 for c in new.values())
    left_out = [n for n in manifests.names() if n not in names]
    print(f"\n{'manifest':16s} minutes" + (" (estimated, one job, cells shared with an earlier manifest counted "
                                          "there)" if args.dry_run else ""))
    for name, sec in times.items():
        print(f"{name:16s} {sec / 60:7.1f}")
    total = sum(times.values()) if args.dry_run else time.time() - t_all
    print(f"{'all':16s} {total / 60:7.1f}" + (f"  (left out: {', '.join(left_out)})" if left_out else ""))
    return 0


def all_args(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("--skip", default="", help="comma-separated manifests to leave out (e.g. budget)")


def cmd_compare(args) -> int:
    """Any two rows of a manifest on any logged metric, judged as the reports judge a paper's claim."""

    print(compare(args.manifest, args.better, args.worse, args.metric, args.scale, _seeds(args.seeds),
                  args.runs_dir, _overrides(args.set)))
    return 0


def compare_args(p: argparse.ArgumentParser, argv=()) -> None:
    p.add_argument("manifest")
    p.add_argument("better", help="the row claimed better (its label, as in the report)")
    p.add_argument("worse", help="the row it is compared with")
    p.add_argument("metric", help="a logged metric, e.g. classification/scenes/top1")
    p.add_argument("--scale", default="tiny")
    seeds_option(p)
    set_options(p, "the overrides the cells ran with (repeatable)")
