"""Every command README.md and docs/ show runs as written: each one's command and options parse (placeholders
filled in), and the cheap ones run (config, list, recipes as written; a manifest's with --dry-run)."""

from __future__ import annotations

import re
import shlex

import pytest

from experiments import manifests
from experiments.run import COMMANDS, main, parser

from .conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md",
         ROOT / "reports" / "README.md"]
START = re.compile(r"(?:python experiments/run\.py|cosmos-suite) ")
# what a placeholder stands for when a command is parsed (the option or value it names)
FILL = {"<manifest>": "table3", "runs/ID": "runs/1", "<name>": "clip", "MANIFEST": "table3", "PATH": "cosmos_cc3m.pt", "OUT": "out",
        "IN": "in", "runs/ID": "runs/1", "F": "job.sh", "FILE": "captions.csv", "S": "tiny", "N": "2",
        "E": "ViT-B-16", "P": "gpu", "METRIC": "retrieval/scenes/i2t_r1", "k=v": "train.steps=7",
        "eval.sets=...": "eval.sets=[]", "A,B": "CLIP,COSMOS"}


def documented() -> list[tuple[str, str]]:
    """(page, command) for every command a page shows: in code blocks (one per line, up to a two-space gap before
    its description) and in inline code spans."""
    out = []
    for page in PAGES:
        text = page.read_text()
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
        lines = [line for block in blocks for line in block.splitlines()]
        spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " "))
        for candidate in lines + spans:
            hit = START.search(candidate)
            if hit:
                command = re.split(r"\s{2,}|\s#\s", candidate[hit.end():].strip())[0]
                out.append((page.name, command))
    return out


def filled(command: str) -> list[str] | None:
    """The argv of a documented command, every optional group's content kept, its placeholders filled (the first
    of `a|b` alternatives, `...` dropped); None for the generic form (`<command>`)."""
    if "<command>" in command:
        return None
    words = []
    for word in shlex.split(command.replace("[", " ").replace("]", " ")):
        if word in ("...", "|"):
            continue
        if "|" in word:  # alternatives: the first (runs/ID|last.pt, folder|img2dataset|dreamlip, open_clip|release)
            word = word.split("|")[0]
        key, eq, value = word.partition("=")
        words.append(FILL[word] if word in FILL else f"{key}={FILL.get(value, value)}" if eq else word)
    return words


COMMANDS_SHOWN = documented()


def test_the_pages_show_commands():
    assert len(COMMANDS_SHOWN) >= 25, COMMANDS_SHOWN
    assert {c.split()[0] for _, c in COMMANDS_SHOWN} >= {"train", "eval", "export", "config", "data", "prepare",
                                                         "recipes", "list", "all", "table3", "budget", "compare"}


@pytest.mark.parametrize("page,command", COMMANDS_SHOWN, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS_SHOWN])
def test_every_documented_command_parses(page, command):
    argv = filled(command)
    if argv is None:
        return
    name = argv[0]
    assert name in COMMANDS or name in manifests.names(), f"{page}: unknown command {name!r} in {command!r}"
    try:
        parser(argv[0], argv[1:]).parse_args(argv[1:])
    except SystemExit as exn:
        if exn.code:  # --help exits 0
            pytest.fail(f"{page}: `{command}` does not parse as {argv} (exit {exn.code})")


CHEAP = sorted({c for _, c in COMMANDS_SHOWN if filled(c) and (filled(c)[0] in ("config", "list", "recipes")
                                                              or filled(c)[0] in manifests.names() + ["all"])})


@pytest.mark.parametrize("command", CHEAP)
def test_the_cheap_documented_commands_run(command, tmp_path, capsys):
    argv = filled(command)
    if argv[0] in manifests.names() + ["all"]:  # a manifest's plan, nothing trained or restored
        argv = [a for a in argv if a not in ("--archive", "--report-only")]
        argv = [*argv, "--dry-run", "--runs-dir", str(tmp_path / "runs")]
        if "--slurm" in argv:  # writes the script where it is told: here, under tmp
            argv[argv.index("--slurm") + 1] = str(tmp_path / "job.sh")
        if "--out" in argv:
            argv[argv.index("--out") + 1] = str(tmp_path / "out")
    if argv[0] == "recipes" and "--recipe" in argv and argv[argv.index("--recipe") + 1] == "slip_yfcc15m":
        argv += ["--samples", "14000000"]
    assert main(argv) == 0, f"`{command}` as {argv}"
