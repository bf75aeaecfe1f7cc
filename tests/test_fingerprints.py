"""Every manifest cell at every scale keeps its fingerprint: restructuring the code must not rename any run.

tests/data/fingerprints.json was written once from the code before the restructuring (commit ce213f8) by
`all_fingerprints` below, with the release-checkpoint rows pointing at a file of the bytes CHECKPOINT_BYTES and paper-scale training rows
at the shards SHARDS (recipe_samples 15,000,000); the
test recomputes every fingerprint and compares. A change that alters what a cell computes must regenerate that
file in the same commit and say why. Cells added since are appended without touching an existing entry (2026-12-05:
seeds 3-7 of the rows ROW_SEEDS gives 8 seeds). When v5 became the tiny default (2026-12-05), the tiny cells of the
manifests that do not pin v4 took v5 fingerprints, and every tiny cell planned with benchmark=v4 ("name|tiny-v4|
row|seed") kept the fingerprint it had before, checked against the file's previous entries when it was rewritten. Then the ablations' two EMA-momentum rows on
v5 (v5's horizon rule had replaced their momentum; it now yields to an explicit one) took new names, nothing else.
Then data.workers entered the fingerprint from 2 workers on (each worker reads its own shards, so the batches
differ: measured on SLIP's table3 row): the small and paper cells (8 workers) took new names; every tiny cell (0
workers) and every archived record kept its own. The siglip manifest's cells were appended."""

from __future__ import annotations

import json

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "data" / "fingerprints.json"
CHECKPOINT_BYTES = b"a stand-in checkpoint: its sha256 enters the eval-only fingerprints"
SHARDS = "/stand-in/cc3m/{00000..00331}.tar"
CHECKPOINT_ENV = ("OPENCLIP_400M", "OPENCLIP_1B", "OPENCLIP_2B", "COSMOS_30M")


def all_fingerprints(checkpoint: str) -> dict[str, str]:
    """"manifest|scale|row|seed" -> fingerprint for every cell of every manifest at every scale it runs at."""
    import os

    from experiments import manifests, plan

    for name in CHECKPOINT_ENV:
        os.environ[name] = checkpoint
    out = {}
    for name in manifests.names():
        manifest = manifests.load(name)
        for scale in manifest.SCALES:
            # paper runs read real shards, and a recipe that takes its size from the data is told it
            overrides = {"data.shards": SHARDS, "recipe_samples": 15_000_000} if scale == "paper" else None
            for cell in plan.cells(manifest, scale, overrides=overrides):
                out[f"{name}|{scale}|{cell.row}|{cell.seed}"] = cell.fingerprint
            if scale == "tiny":  # the earlier benchmark's history keeps its names
                for cell in plan.cells(manifest, scale, overrides={"benchmark": "v4"}):
                    out[f"{name}|tiny-v4|{cell.row}|{cell.seed}"] = cell.fingerprint
    return out


def test_every_manifest_cell_keeps_its_fingerprint(tmp_path, monkeypatch):
    ckpt = tmp_path / "release.pt"
    ckpt.write_bytes(CHECKPOINT_BYTES)
    for name in CHECKPOINT_ENV:
        monkeypatch.setenv(name, str(ckpt))
    expected = json.loads(GOLDEN.read_text())
    got = all_fingerprints(str(ckpt))
    assert len(expected) > 100
    assert set(got) == set(expected), set(got) ^ set(expected)
    changed = {k: (expected[k], got[k]) for k in expected if got[k] != expected[k]}
    assert not changed, changed


def test_every_archived_record_keeps_its_fingerprint():
    """The committed records (reports/records/<fingerprint>/run/config.json) still give their folder's name."""
    from experiments.config import fingerprint

    records = sorted(p for p in (ROOT / "reports" / "records").iterdir() if p.is_dir())
    assert len(records) >= 27
    for record in records:
        assert fingerprint(json.loads((record / "run" / "config.json").read_text())) == record.name, record.name
