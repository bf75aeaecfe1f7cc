"""--mongo URL adds a MongoObserver next to the file observer (exercised against mongomock's in-memory server)."""

from __future__ import annotations

from unittest import mock

import mongomock
import mongomock.gridfs

from experiments import config as C
from experiments.experiment import make_experiment

from .conftest import tiny_overrides


def test_mongo_url_records_the_run_in_mongodb(scenes, tmp_path):
    mongomock.gridfs.enable_gridfs_integration()  # sacred stores sources through gridfs
    with mock.patch("pymongo.MongoClient", mongomock.MongoClient):
        ex = make_experiment(C.resolve(tiny_overrides(**{"train.steps": 2})), tmp_path, "mongodb://team:27017/suite")
        mongo = next(o for o in ex.observers if type(o).__name__ == "MongoObserver")
        run = ex.run()
    assert run.status == "COMPLETED"
    doc = mongo.runs.find_one({"_id": run._id})
    assert doc["status"] == "COMPLETED" and "retrieval/scenes/i2t_r1" in doc["result"]
    assert doc["info"]["fingerprint"] and doc["config"]["encoder"] == "ViT-Micro-8-32"
    assert mongo.metrics.find_one({"run_id": run._id, "name": "train/loss"})["steps"] == [1, 2]
    assert (tmp_path / "1" / "run.json").exists(), "the file observer still records the run"
