"""Damaged run records never break a report (issue 46's report-input attacks): each is left out with a warning that
names it, and the table is written from the rest."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

from analysis.budget import point_cells
from experiments.layout import MAX_NPZ_BYTES, load_npz

from .test_reports import _fake_runs, cells, manifests, write_table

DEEP = "[" * 100_000 + "]" * 100_000
_M = manifests.load("table3")


def _result(value) -> str:
    return json.dumps({"status": "COMPLETED", "result": {k: value for k in manifests.columns(_M, "tiny")}})


def _bomb(path) -> None:
    """An npz whose one member claims 3 GiB uncompressed (zeros deflate to ~3 MiB)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|b1", "fortran_order": False, "shape": (3 << 30,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("compositional/scenes/correct.npy", "w", force_zip64=True) as f:
        f.write(header.getvalue())
        for _ in range(3 << 6):
            f.write(b"\0" * (1 << 24))


def _pickled_npz(path) -> None:
    with open(path, "wb") as f:
        np.savez(f, maps=np.array([{"a": 1}], dtype=object))


ATTACKS = {
    "a 1e308 metric": lambda d: (d / "run.json").write_text(_result(1e308)),
    "an inf metric": lambda d: (d / "run.json").write_text(_result(float("inf"))),
    "100k-deep run.json": lambda d: (d / "run.json").write_text(DEEP),
    "100k-deep config.json": lambda d: (d / "config.json").write_text(DEEP),
    "100k-deep info.json": lambda d: (d / "info.json").write_text(DEEP),
    "100k-deep metrics.json": lambda d: (d / "metrics.json").write_text(DEEP),
    "string item arrays": lambda d: np.savez(d / "items.npz", **{"compositional/scenes/correct": np.array(["x"] * 10),
                                                                 "compositional/scenes/group": np.array(["a"] * 10)}),
    "a zip bomb": lambda d: _bomb(d / "items.npz"),
    "truncated attention maps": lambda d: (d / "attention_maps.npz").write_bytes(b"PK\x03\x04cut"),
    "pickled attention maps": lambda d: _pickled_npz(d / "attention_maps.npz"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_damaged_record_is_left_out_with_a_warning_and_the_report_is_written(tmp_path, attack):
    todo = cells(_M, "tiny", seeds=(0, 1))
    _fake_runs(tmp_path / "runs", todo)
    for d in (tmp_path / "runs").iterdir():
        np.savez(d / "items.npz", **{"compositional/scenes/correct": np.ones(10, bool),
                                     "compositional/scenes/group": np.array(["a"] * 10)})
    ATTACKS[attack](tmp_path / "runs" / "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_table("table3", _M, todo, tmp_path / "runs", tmp_path / "out")
    assert (tmp_path / "out" / "table3.md").exists()
    if attack not in ("100k-deep metrics.json",):  # a run's training curve file: the tables never read it
        assert any("1" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_load_npz_refuses_a_bomb_by_its_directory_and_text_where_numbers_belong(tmp_path):
    _bomb(tmp_path / "b.npz")
    with pytest.raises(ValueError, match=f"over the {MAX_NPZ_BYTES}-byte limit"):
        load_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "s.npz", **{"retrieval/scenes/i2t_rank": np.array(["1", "2"])})
    with pytest.raises(ValueError, match="holds <U1 values"):
        load_npz(tmp_path / "s.npz")
    np.savez(tmp_path / "ok.npz", **{"x/y/group": np.array(["a", "b"]), "x/y/correct": np.array([True, False])})
    assert set(load_npz(tmp_path / "ok.npz")) == {"x/y/group", "x/y/correct"}


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e308, "12", True])
def test_a_damaged_curve_point_is_left_out_and_named(tmp_path, bad):
    import pandas as pd

    ckpts = tmp_path / "checkpoints"
    for fp, value in (("aa", 10.0), ("bb", bad)):
        point = ckpts / fp / "curve" / "step100"
        point.mkdir(parents=True)
        (point / "metrics.json").write_text(json.dumps({"retrieval/scenes/i2t_r1": value}))
    runs = pd.DataFrame([{"row": "A", "seed": 0, "fingerprint": "aa"}, {"row": "B", "seed": 0, "fingerprint": "bb"}])
    with pytest.warns(UserWarning, match="leaving out the curve point"):
        points = point_cells(runs, tmp_path)
    assert list(points[100].runs["row"]) == ["A"]


def test_attention_maps_keep_their_text_fields(tmp_path):
    from analysis.make import _maps
    import pandas as pd

    (tmp_path / "1").mkdir()
    np.savez_compressed(tmp_path / "1" / "attention_maps.npz", images=np.zeros((2, 8, 8, 3), np.uint8),
                        captions=np.array(["a red cube", "a blue ball"]), tokens=np.array(["a red cube"] * 2),
                        patch_text=np.zeros((2, 4, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = _maps(tmp_path, pd.DataFrame({"run_id": ["1"], "row": ["CLIP"]}))
    assert list(maps["CLIP"]["captions"]) == ["a red cube", "a blue ball"]
