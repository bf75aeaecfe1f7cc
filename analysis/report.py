"""reports/<manifest>.md: what was run (scale, data, commit, runs), the table (seed-means with 95% intervals), the
paper's numbers with their confidence tags, and for each claim of the paper a verdict with its interval."""

from __future__ import annotations

import math

import pandas as pd

from experiments import manifests
from methods.evals import chance_of

from .statistics import ALPHA, holm, holm_levels, pending, verdict

TAGS = {"A": "authors' release", "T": "third party quoting the paper's LaTeX", "U": "unverified summary"}


def check_claim(cells, better: str, worse: str, metric: str) -> str:
    """The claim "better beats worse on metric" judged on the paired per-seed difference with its 95% interval
    (seeds and test items): holds / does not hold / cannot tell at this budget (analysis/statistics.py)."""
    return verdict(cells.paired(better, worse, metric))


def judge_claims(cells, claims: list[tuple], primary=()) -> list[tuple[str, bool, str]]:
    """(text, is primary, verdict) per claim: a primary claim on its own interval, the secondary ones on
    Holm-adjusted p-values across the secondary claims (their family: the manifest's claims), each "cannot tell"
    with the gap its design detects at the level it is tested at (its Holm step's)."""
    gaps = [cells.paired(better, worse, metric) for _, better, worse, metric in claims]
    second = [i for i, c in enumerate(claims) if c[0] not in primary]
    pvalues = [gaps[i].p for i in second]
    adjusted = dict(zip(second, holm(pvalues)))
    levels = dict(zip(second, holm_levels(pvalues)))
    return [(c[0], i not in adjusted, verdict(gaps[i], adjusted.get(i), levels.get(i, ALPHA)))
            for i, c in enumerate(claims)]


def joint_error(n_primary: int) -> str:
    """What testing n primary claims each at 5% means for their joint error (said, not corrected: the primaries
    were registered with their own 5% test before the runs that judge them)."""
    bound = min(1.0, n_primary * ALPHA)
    independent = 1 - (1 - ALPHA) ** n_primary
    return (f"Each of these {n_primary} primary claims is tested at 5% on its own: the chance that at least one is "
            f"called wrongly when neither gap exists is at most {bound:.0%} ({independent:.1%} if they were "
            "independent; they share runs, so they are not).")


def claims_section(cells, claims: list[tuple], primary=()) -> list[str]:
    """The report's claims: primary ones first, then the secondary ones with the family they are adjusted in."""
    judged = judge_claims(cells, claims, primary)
    first = [f"- {text}: **{v}**" for text, is_primary, v in judged if is_primary]
    rest = [f"- {text}: **{v}**" for text, is_primary, v in judged if not is_primary]
    lines = ["## The paper's claims at this scale", ""]
    if first:
        lines += ["Primary (the manifest's PRIMARY, the paper's headline claim here; judged on its own 95% interval):",
                  "", *first, ""] + ([joint_error(len(first)), ""] if len(first) > 1 else [])
    if rest:
        waiting = sum(pending(v) for _, is_primary, v in judged if not is_primary)
        interim = (f"; interim: {waiting} of them not measured on two seeds yet count in the family as p = 1, so "
                   "these adjusted p-values can only fall as they are measured" if waiting else "")
        lines += [f"{'Secondary' if first else 'All claims are secondary'} (judged on p-values Holm-adjusted across "
                  f"these {len(rest)}; a claim holds when its adjusted p < 0.05{interim}):", "", *rest, ""]
    return lines


def markdown_table(stats: pd.DataFrame, columns: dict[str, str]) -> str:
    rows = list(dict.fromkeys(stats["row"]))
    lines = ["| Row | " + " | ".join(columns.values()) + " |", "|---" * (len(columns) + 1) + "|"]
    for r in rows:
        cells = []
        for key in columns:
            s = stats[(stats["row"] == r) & (stats["metric"] == key)].iloc[0]
            cells.append("-" if s["n"] == 0 or math.isnan(s["mean"]) else f"{s['mean']:.1f}"
                         + (f" ± {s['half']:.1f}" if s["half"] > 0 else ""))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_table(paper: dict) -> str:
    if not paper:
        return "The paper reports no numbers for this artefact."
    headers = list(dict.fromkeys(h for cols in paper.values() for h in cols))
    lines = ["| Row | " + " | ".join(headers) + " |", "|---" * (len(headers) + 1) + "|"]
    for row, cols in paper.items():
        cells = [f"{cols[h][0]:.1f} [{cols[h][1]}]" if h in cols else "-" for h in headers]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    tags = sorted({t for cols in paper.values() for _, t in cols.values()})
    return "\n".join(lines) + "\n\nConfidence tags: " + "; ".join(f"[{t}] {TAGS[t]}" for t in tags) + "."


def _seed_rule(manifest, scale: str) -> str:
    """The header line of a manifest whose rule gives some rows more seeds (ROW_SEEDS, docs/statistics.md)."""

    more = ", ".join(f"{row} {len(seeds)}" for row, seeds in manifest.ROW_SEEDS.items())
    return (f"- **Seeds**: {more} (the rows of its primary comparisons, by a rule registered before their runs: "
            f"ROW_SEEDS); every other row {len(manifests.seeds(manifest, scale))}. The cost of the added seeds is in "
            "the manifest's docstring; the rule in docs/statistics.md.")


def _chance_line(columns: dict[str, str], chance: dict[str, float]) -> list[str]:
    """What guessing scores on each column (methods/evals/scenesets.py chance_levels): the level a tiny number is
    read against."""
    known = [(label, chance_of(chance, key)) for key, label in columns.items()]
    known = [(label, v) for label, v in known if v is not None]
    if not known:
        return []
    return ["- **Chance levels** (what guessing scores on this benchmark; read the numbers against them, not 0): "
            + ", ".join(f"{label} {v:.3g}" for label, v in known) + "."]


def _environment_line(runs: pd.DataFrame) -> list[str]:
    """The numeric environment the runs were made in (torch, CPU kernels or GPU, threads): a table regenerates to
    the digit only in the same one, so a table that mixes them says which runs ran where."""
    if not len(runs) or "environment" not in runs or runs["environment"].isna().all():
        return []
    groups = runs.groupby(runs["environment"].fillna("not recorded"), sort=True)
    if len(groups) == 1:
        return [f"- **Numeric environment**: {runs['environment'].iloc[0]} (every run; a rerun reproduces these "
                "numbers to the digit in this environment only)."]
    def cells(g) -> str:  # "CLIP seeds 0, 1; SLIP seed 2"
        by_row = g.groupby("row", sort=False)["seed"].apply(list)
        return "; ".join(f"{row} seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}" for row, s in by_row.items())

    parts = [f"{env} ({cells(g)})" for env, g in groups]
    return [f"- **Numeric environment: mixed**: {'; '.join(parts)}. A rerun in one environment changes the others' "
            "rows in their last digits."]


def render(name: str, manifest, scale: str, data: str, commit: str, runs: pd.DataFrame, stats: pd.DataFrame,
           columns: dict[str, str], figures: list[str], claims: list[tuple] | None = None, cells=None,
           sections: list[str] = (), reference: str = "", excluded: list[str] = (), benchmark: str = "",
           chance: dict[str, float] | None = None, caveat=lambda text: text) -> str:
    """The report's markdown; `claims` (text, better row, worse row, metric) default to the manifest's CLAIMS;
    `sections` (markdown) go after the claims, then `reference` (where the claims are judged with more training).
    The manifest's CAVEATS of the runs' `benchmark` are printed, each through `caveat` (which fills its placeholders
    from the records: analysis/caveats.py); where it has only other benchmarks' the report says so."""
    doc = manifest.doc.strip().split("\n\n")[0]
    lines = [f"# {manifest.TITLE}", "", doc, "",
             f"- **Scale**: `{scale}`. **Data**: {data}.",
             f"- **Commit**: `{commit}`. **Runs**: " + (", ".join(
                 f"{r.row} seed {r.seed}: run {r.run_id}" for r in runs.itertuples()) or "none"),
             f"- **Compute**: {runs['wall_time_s'].fillna(0).sum() / 60:.1f} min of training and evaluation "
             "wall time over these runs." if len(runs) else "- **Compute**: none yet.",
             *([f"- **Excluded as damaged**: {', '.join(excluded)}."] if excluded else []),
             *_environment_line(runs),
             *_chance_line(columns, chance or {}),
             *([_seed_rule(manifest, scale)] if manifest.ROW_SEEDS else []),
             "- Numbers in the first table are ours, measured at this scale; the paper's numbers below are theirs, "
             "cited with confidence tags, on the paper's data and models.",
             "- A cell reads mean ± the half-width of its 95% interval over seeds and test items (seed spread and an "
             "item bootstrap, fitted as a crossed seed x item model and combined in a generalized interval of "
             "measured coverage; analysis/statistics.py). A claim is judged on the paired per-seed difference: a "
             "primary claim holds when its whole interval is above 0 and does not hold when below; secondary "
             "claims are judged on Holm-adjusted p-values; otherwise it cannot be told at this budget, and the "
             "report gives the smallest gap the design detects with 80% power.", "",
             "## Our results", "", markdown_table(stats, columns), "",
             "## The paper's numbers", "", paper_table(manifest.PAPER), ""]
    claims = manifest.CLAIMS if claims is None else claims
    if claims:
        lines += claims_section(cells, claims, manifest.PRIMARY)
    if manifest.CAVEATS.get(benchmark):
        lines += ["## What these numbers do not show", ""] + [f"- {caveat(c)}" for c in manifest.CAVEATS[benchmark]] \
            + [""]
    elif manifest.CAVEATS:
        lines += ["## What these numbers do not show", "", f"- This manifest's caveats were measured on benchmark "
                  f"{', '.join(manifest.CAVEATS)} and are not repeated for {benchmark or 'this scale'}, where none has "
                  "been measured yet.", ""]
    lines += [s.rstrip() + "\n" for s in sections]
    if reference:
        lines += [reference, ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)
