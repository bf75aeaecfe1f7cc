"""Run records on disk: atomic writes of sacred's JSON files, and honest states for runs that were killed.

- `AtomicFileStorageObserver`: sacred's FileStorageObserver, but run.json / config.json / info.json /
  metrics.json are written to a temporary file and renamed, so a kill or a full disk mid-write leaves the previous
  record, never a truncated one (readers skip and name an unreadable record all the same: analysis/load.py).
- `mark_stale(runs_dir, fingerprint, run_id)`: a run killed with SIGKILL stays RUNNING in its record forever.
  When a new run of the same fingerprint starts (it resumes the killed one's checkpoint), every stale RUNNING
  record of that fingerprint becomes INTERRUPTED, with `resumed_by` naming the new run. Stale means: recorded on
  this host by a process that no longer exists (its pid is in run.json's meta from the start, so a run killed before
its first heartbeat counts too), or its last heartbeat is older than STALE_AFTER_S (another host).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
from pathlib import Path

from sacred.observers import FileStorageObserver
from sacred.serializer import flatten

from methods.checkpoint import atomic_write

from .layout import pid_alive, read_record

STALE_AFTER_S = 600  # sacred beats every 10 s; a record silent for 10 min on another host is dead


def write_json_atomic(obj, path: Path) -> None:
    with atomic_write(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True, indent=2)
        f.flush()
        os.fsync(f.fileno())


BULKY_KEYS = ("captured_out", "fail_trace")  # what a record on a full disk gives up to be written at all


class AtomicFileStorageObserver(FileStorageObserver):
    def save_json(self, obj, filename):
        path = Path(self.dir) / filename
        try:
            write_json_atomic(flatten(obj), path)
        except OSError as exn:
            if exn.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
                raise
            # a full disk has no room for the temporary copy: rewrite the record in place, within the pages it
            # holds (its status must say FAILED, not RUNNING), without the captured output and traceback
            lean = {k: v for k, v in flatten(obj).items() if k not in BULKY_KEYS}
            with open(path, "r+") as f:
                f.write(json.dumps(lean, sort_keys=True))
                f.truncate()


def is_stale(run: dict, info: dict, now: dt.datetime | None = None) -> bool:
    """A RUNNING record whose process is gone (same host) or whose heartbeat is older than STALE_AFTER_S."""
    if run.get("status") != "RUNNING":
        return False
    pid = info.get("pid", (run.get("meta") or {}).get("pid"))  # run.json's from the start, info.json's later
    if (run.get("host") or {}).get("hostname") == socket.gethostname() and isinstance(pid, int):
        return pid != os.getpid() and not pid_alive(pid)
    beat = run.get("heartbeat") or run.get("start_time")
    if not beat:
        return True
    last = dt.datetime.fromisoformat(beat)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return (now - last).total_seconds() > STALE_AFTER_S


def _config_fingerprint(path: Path) -> str | None:
    from . import config as C

    try:
        return C.fingerprint(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_stale(runs_dir: Path, fingerprint: str, run_id) -> list[str]:
    """Mark every stale RUNNING record of this fingerprint INTERRUPTED (resumed_by=run_id); returns their ids."""
    marked = []
    for run_json in Path(runs_dir).glob("*/run.json"):
        if run_json.parent.name == str(run_id):
            continue
        run, info = read_record(run_json)
        if run is None or run.get("status") != "RUNNING":
            continue
        if "fingerprint" not in info:  # killed before its first heartbeat wrote info.json
            info = info | {"fingerprint": _config_fingerprint(run_json.parent / "config.json")}
        if info.get("fingerprint") != fingerprint or not is_stale(run, info):
            continue
        run["status"], run["resumed_by"] = "INTERRUPTED", str(run_id)
        run.setdefault("stop_time", run.get("heartbeat"))
        write_json_atomic(run, run_json)
        marked.append(run_json.parent.name)
    return marked
