"""The benchmark's oracle table (docs/benchmark.md): what each task of a version needs, from scene metadata only.

    python benchmarks/oracles.py                 # v4 (preset tiny) and v5 (tiny-v5), markdown on stdout
    python benchmarks/oracles.py --presets tiny-v5

No model and no rendering of the splits (the colour check renders one patch per colour); about 30 s per version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from methods.data.scenes import PRESETS  # noqa: E402
from methods.data.scenes import oracles as O  # noqa: E402
from methods.data.scenes import shortcuts as S  # noqa: E402
from methods.data.scenes.probes import COMPOSITIONAL_TYPES, PERCEPTION_PATTERNS  # noqa: E402

# The gates registered in docs/benchmark.md before v5 was generated: (name, test on the measured dict, text).
GATES = (
    ("G1", lambda m: all(m["retrieval"][O.CONTEXT]["bag"][d] <= 0.4 * m["retrieval"][O.CONTEXT]["bound"][d]
                         for d in ("i2t", "t2i")) and m["retrieval"][O.CONTEXT]["bound"]["i2t"] >= 90,
     "bag R@1 <= 0.4 x bound R@1 (I2T, T2I); bound >= 90"),
    ("G2", lambda m: m["retrieval"][O.CONTEXT]["bound, no relations"]["i2t"]
     <= m["retrieval"][O.CONTEXT]["bound"]["i2t"] - 10, "no-relations oracle <= bound - 10 (I2T)"),
    ("G3", lambda m: sum(m["colour_survival"].values()) / len(m["colour_survival"]) >= 95,
     ">= 95% of jittered views keep their colour"),
    ("G4", lambda m: m["flip_invariant"] == 100, "100% of relation / position words flip-invariant"),
    ("G5", lambda m: m["context"]["fit"] == 100, "100% of test long captions within 77 tokens"),
    ("G6", lambda m: all(v["length-only"] <= 55 for v in m["compositional"].values()), "length-only <= 55%"),
    ("G7", lambda m: all(v["text-only"] <= 60 for v in m["compositional"].values()), "text-only <= 60%"),
    ("G8", lambda m: m["batch_sharing"] <= 0.25, "<= 0.25 batch-mates share a sentence"),
    ("G9", lambda m: all(v["bound"] >= 99 for v in list(m["compositional"].values()) + list(m["perception"].values())),
     "bound oracle >= 99% on every probe"),
    ("G10", lambda m: all(m["perception"][p]["bag"] <= 60 for p in ("position", "count", "orientation")),
     "bag <= 60% on position, count, orientation pairs"),
)


def table(measured: dict[str, dict]) -> str:
    names = list(measured)
    head = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = []

    def row(label, fn, fmt="{:.1f}"):
        rows.append(f"| {label} | " + " | ".join(fmt.format(fn(measured[n])) for n in names) + " |")

    for ctx in sorted({c for m in measured.values() for c in m["retrieval"]}):
        for oracle in O.ORACLES:
            row(f"retrieval I2T / T2I R@1, {oracle}, context {ctx}",
                lambda m: (m["retrieval"][ctx][oracle]["i2t"], m["retrieval"][ctx][oracle]["t2i"]), "{0[0]:.1f} / {0[1]:.1f}")
    row("colour kept under jitter (mean; worst colour)", lambda m: (
        sum(m["colour_survival"].values()) / len(m["colour_survival"]), min(m["colour_survival"].values())),
        "{0[0]:.1f}% ; {0[1]:.0f}%")
    row("relation / position words a flip keeps", lambda m: m["flip_invariant"], "{:.1f}%")
    row("test long captions within 77 tokens (longest)", lambda m: (m["context"]["fit"], m["context"]["longest"]),
        "{0[0]:.1f}% ({0[1]})")
    row("batch-mates sharing a sentence (batch 32)", lambda m: m["batch_sharing"], "{:.2f}")
    for kind in COMPOSITIONAL_TYPES:
        row(f"{kind}: bag / bound / length-only / text-only", lambda m: tuple(
            m["compositional"].get(kind, {}).get(k, float("nan"))
            for k in ("bag", "bound", "length-only", "text-only")), "{0[0]:.0f} / {0[1]:.0f} / {0[2]:.0f} / {0[3]:.0f}")
    for p in PERCEPTION_PATTERNS:
        row(f"MMVP-style {p}: bag / bound", lambda m: (m["perception"][p]["bag"], m["perception"][p]["bound"]),
            "{0[0]:.0f} / {0[1]:.0f}")
    for oracle in S.SHORTCUTS:
        row(f"shortcut: retrieval I2T / T2I R@1, {oracle}, context {O.CONTEXT}",
            lambda m: (m["shortcuts"][oracle]["i2t"], m["shortcuts"][oracle]["t2i"]), "{0[0]:.1f} / {0[1]:.1f}")
    for kind in COMPOSITIONAL_TYPES:
        row(f"shortcut: {kind} by the large object's colour alone",
            lambda m: m["large_colour"].get(kind, float("nan")), "{:.1f}")
    row(f"shortcut: shape-free oracle picks its own text in a batch of {O.BATCH}: CLIP captions / COSMOS crops",
        lambda m: (m["shape_free_batch"]["random"], m["shape_free_batch"]["textcrop"]), "{0[0]:.1f} / {0[1]:.1f}")
    row("zero-shot top-1: colour-only / present-category / chance", lambda m: tuple(
        m["classification"][k] for k in ("colour-only", "present-category", "chance")), "{0[0]:.1f} / {0[1]:.1f} / {0[2]:.0f}")
    gates = [f"| {g}: {text} | " + " | ".join("met" if test(measured[n]) else "**missed**" for n in names) + " |"
             for g, test, text in GATES]
    return "\n".join([head, *rows, *gates])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="tiny,tiny-v5", help="comma-separated scenes presets (default: v4 and v5)")
    args = p.parse_args(argv)
    measured = {}
    for name in args.presets.split(","):
        cfg = PRESETS[name]
        measured[f"{name} (v{cfg.version})"] = O.measure(cfg) | S.measure(cfg)
    print(table(measured))


if __name__ == "__main__":
    main()
