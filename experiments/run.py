"""The suite's one command line.

    python experiments/run.py list                                  manifests and what they reproduce
    python experiments/run.py train method=clip scale=tiny [k=v]    one training run and its evaluations
    python experiments/run.py config method=cosmos [k=v]            the resolved config (JSON), nothing run
    python experiments/run.py eval checkpoint=PATH [encoder=E] [k=v]  evaluate a local checkpoint (a sacred run)
    python experiments/run.py export RUN_OR_CKPT OUT [--format open_clip|release]   weights for other tools
    python experiments/run.py data scenes [--scale tiny-v5|tiny]    generate the synthetic benchmark (a preset)
    python experiments/run.py prepare folder|img2dataset|dreamlip IN OUT [--captions F]   make shards
    python experiments/run.py <manifest> [--scale S] [--seeds 0,1] [--rows A,B] [--runs-dir runs] [--dry-run]
                                    [--jobs N] [--report-only] [--archive [DIR]]
    python experiments/run.py all [--scale S] [--jobs N] [--skip M,..] [--dry-run] [--report-only] [--archive [DIR]]
    python experiments/run.py recipes [--recipe R] [--method M]     paper recipes: resolved vs official, with sources
    python experiments/run.py compare MANIFEST "ROW A" "ROW B" METRIC  A beats B? paired interval and verdict

Config errors print one line naming the key and the valid choices, and exit with code 2 before any work;
failures found during the work (unreadable data or checkpoint, divergence) print one line and exit with 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python experiments/run.py` from a checkout
# sacred 0.8.7 imports pkg_resources (setuptools < 81 still has it): its deprecation notice is not the user's news
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from experiments import commands, manifests
from experiments.errors import ConfigError, Terminated
from methods.errors import SuiteError, one_line

# --- the command table ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand: its handler (parsed arguments -> exit code) and the option groups its parser takes, each
    a function of (parser, argv) adding arguments (argv: for help that depends on it, e.g. train's key listing)."""

    handler: Callable[[argparse.Namespace], int]
    options: tuple[Callable, ...] = ()
    description: str = ""


def _train_config(p: argparse.ArgumentParser, argv=()) -> None:
    commands.config_options(p, argv, "method=clip scale=tiny train.steps=100")


def _config_config(p: argparse.ArgumentParser, argv=()) -> None:
    commands.config_options(p, argv, "method=cosmos scale=paper recipe=cc12m")


COMMANDS: dict[str, Command] = {
    "list": Command(commands.cmd_list, description="manifests and what they reproduce"),
    "train": Command(commands.cmd_train, (commands.runs_options, _train_config)),
    "eval": Command(commands.cmd_eval, (commands.runs_options, _train_config)),
    "config": Command(commands.cmd_config, (_config_config,)),
    "export": Command(commands.cmd_export, (commands.export_args,)),
    "data": Command(commands.cmd_data, (commands.data_args,)),
    "prepare": Command(commands.cmd_prepare, (commands.prepare_args,)),
    "recipes": Command(commands.cmd_recipes, (commands.recipes_args,)),
    "all": Command(commands.cmd_all, (commands.runs_options, commands.table_options, commands.all_args)),
    "compare": Command(commands.cmd_compare, (commands.runs_options, commands.compare_args)),
}
# any manifest's name runs the manifest command
MANIFEST = Command(commands.cmd_manifest, (commands.runs_options, commands.table_options, commands.manifest_args))


def parser(name: str, argv: list[str] = ()) -> argparse.ArgumentParser:
    """The parser of one command (a manifest's name gives the manifest command's); ConfigError for an unknown
    manifest, naming the valid commands."""
    command = COMMANDS.get(name)
    if command is None:
        manifests.load(name)  # unknown -> one line naming the valid choices
        command = MANIFEST
    p = argparse.ArgumentParser(prog=f"run.py {name}", description=command.description or command.handler.__doc__)
    for add in command.options:
        add(p, list(argv))
    p.set_defaults(handler=command.handler, command=name)
    return p


# the errors of a path that cannot take the write: a file in a folder's place (or the reverse), no permission
UNWRITABLE = (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        args = parser(argv[0], argv[1:]).parse_args(argv[1:])
        commands.verbosity(args)
        return args.handler(args)
    except ConfigError as exn:
        print(f"error: {exn}", file=sys.stderr)
        return 2
    except SuiteError as exn:  # found during the work (data, checkpoint, divergence): the run is marked FAILED
        print(f"error: {one_line(exn)}", file=sys.stderr)
        return 1
    except Terminated as exn:  # sacred marked the run INTERRUPTED; the same command resumes it
        print(f"interrupted: {exn}; the same command resumes from the last checkpoint", file=sys.stderr)
        return 143
    except OSError as exn:  # outside a run's own checks (reports, archive, data, locks): one line, outputs whole
        where = f" {exn.filename}" if exn.filename else ""
        if exn.errno in (errno.ENOSPC, errno.EDQUOT):
            print(f"error: no space left on the device writing{where}: free space and rerun (files are replaced only "
                  f"when complete: what was there before is whole)", file=sys.stderr)
            return 1
        if exn.errno in UNWRITABLE:
            print(f"error: cannot write{where}: {exn.strerror} (a file where a folder belongs, a folder where a file "
                  f"does, or a read-only place)", file=sys.stderr)
            return 1
        raise


CHECKOUT = Path(__file__).resolve().parents[1]  # the source checkout this code runs from


def in_checkout(root: Path = CHECKOUT) -> bool:
    """Whether the code runs from the suite's source checkout (python experiments/run.py, or pip install -e .)."""
    return (root / "pyproject.toml").is_file() and (root / "reports").is_dir()


def cli() -> None:
    """The `cosmos-suite` console script (pip install -e .): the same command line as experiments/run.py. A
    non-editable install (a wheel in site-packages) is refused in one line: the reports, the run archive and the
    SLURM scripts' working folder are the checkout's (docs/usage.md)."""
    if not in_checkout():
        print(f"error: cosmos-suite runs from its source checkout (pip install -e <checkout>): the reports, the run "
              f"archive and SLURM's working folder live there, and {CHECKOUT} is an installed copy without them",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    cli()
