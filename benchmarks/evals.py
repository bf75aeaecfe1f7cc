"""Evaluator speed: retrieval over 5k images x 25k captions of 512-d embeddings (after encoding), and zero-shot
segmentation of the tiny benchmark's 1,000-image test split with the tiny encoder (encoding included).

    python benchmarks/evals.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from methods import build_method  # noqa: E402
from methods.clip import CLIPConfig  # noqa: E402
from methods.data.scenes import ensure_scenes, preset  # noqa: E402
from methods.evals import EvalConfig, evaluate  # noqa: E402
from methods.evals.retrieval import retrieval_metrics  # noqa: E402


def main() -> None:
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(5000, 512, generator=g), dim=-1)
    txt = F.normalize(torch.randn(25000, 512, generator=g), dim=-1)
    owner = torch.arange(25000) // 5
    retrieval_metrics(img[:100], txt[:500], owner[:500])  # warm-up
    t = time.perf_counter()
    retrieval_metrics(img, txt, owner)
    print(f"retrieval 5k images x 25k captions, 512-d: {time.perf_counter() - t:.2f} s "
          f"({torch.get_num_threads()} threads)")
    root = ensure_scenes(preset("tiny"), progress=False)
    torch.manual_seed(0)  # the same untrained model every run, so the printed mIoU is reproducible
    method = build_method("clip", CLIPConfig(), "ViT-Tiny-8-64").eval()
    t = time.perf_counter()
    out = evaluate(method, EvalConfig(sets=("segmentation/scenes",)), root)
    print(f"segmentation of the tiny test split (1,000 images, 64 px): {time.perf_counter() - t:.1f} s "
          f"(untrained model, mIoU {out['segmentation/scenes/miou']:.1f})")


if __name__ == "__main__":
    main()
