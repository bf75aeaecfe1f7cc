"""reports/<manifest>.md: what was run (scale, data, commit, runs), the table, the paper's numbers with their
confidence tags, and for each claim of the paper whether it holds at this scale given the seed spread."""

from __future__ import annotations

import math

import pandas as pd

TAGS = {"A": "authors' release", "T": "third party quoting the paper's LaTeX", "U": "unverified summary"}


def check_claim(stats: pd.DataFrame, better: str, worse: str, metric: str) -> str:
    """'holds' / 'does not hold' when the gap exceeds the seed spread (the larger std, or 0 with one seed),
    'within seed spread' otherwise; 'not measured' when a cell is missing."""
    def cell(row):
        hit = stats[(stats["row"] == row) & (stats["metric"] == metric)]
        return hit.iloc[0] if len(hit) and hit.iloc[0]["n"] > 0 else None

    a, b = cell(better), cell(worse)
    if a is None or b is None:
        return "not measured"
    gap = a["mean"] - b["mean"]
    spread = max(0.0 if math.isnan(a["std"]) else a["std"], 0.0 if math.isnan(b["std"]) else b["std"])
    seeds = int(min(a["n"], b["n"]))
    detail = f"{a['mean']:.1f} vs {b['mean']:.1f}, gap {gap:+.1f}, seed spread {spread:.1f} over {seeds} seed(s)"
    if seeds < 2:  # no spread to judge the gap against
        return f"{'holds' if gap > 0 else 'does not hold'} on one seed, untested against seed noise ({detail})"
    if abs(gap) <= spread:
        return f"within seed spread ({detail})"
    return f"{'holds' if gap > 0 else 'does not hold'} ({detail})"


def markdown_table(stats: pd.DataFrame, columns: dict[str, str]) -> str:
    rows = list(dict.fromkeys(stats["row"]))
    lines = ["| Row | " + " | ".join(columns.values()) + " |", "|---" * (len(columns) + 1) + "|"]
    for r in rows:
        cells = []
        for key in columns:
            s = stats[(stats["row"] == r) & (stats["metric"] == key)].iloc[0]
            cells.append("-" if s["n"] == 0 else f"{s['mean']:.1f}" + (f" ± {s['std']:.1f}" if s["n"] > 1 else ""))
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


def render(name: str, manifest, scale: str, data: str, commit: str, runs: pd.DataFrame, stats: pd.DataFrame,
           columns: dict[str, str], figures: list[str], claims: list[tuple] | None = None) -> str:
    """The report's markdown; `claims` (text, better row, worse row, metric) default to the manifest's CLAIMS."""
    doc = (manifest.__doc__ or "").strip().split("\n\n")[0]
    lines = [f"# {manifest.TITLE}", "", doc, "",
             f"- **Scale**: `{scale}`. **Data**: {data}.",
             f"- **Commit**: `{commit}`. **Runs**: " + (", ".join(
                 f"{r.row} seed {r.seed}: run {r.run_id}" for r in runs.itertuples()) or "none"),
             f"- **Compute**: {runs['wall_time_s'].fillna(0).sum() / 60:.1f} min of training and evaluation "
             "wall time over these runs." if len(runs) else "- **Compute**: none yet.",
             "- Numbers in the first table are ours, measured at this scale; the paper's numbers below are theirs, "
             "cited with confidence tags, on the paper's data and models.", "",
             "## Our results", "", markdown_table(stats, columns), "",
             "## The paper's numbers", "", paper_table(manifest.PAPER), ""]
    claims = getattr(manifest, "CLAIMS", []) if claims is None else claims
    if claims:
        lines += ["## The paper's claims at this scale", ""]
        lines += [f"- {text}: **{check_claim(stats, better, worse, metric)}**"
                  for text, better, worse, metric in claims]
        lines.append("")
    if figures:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)
