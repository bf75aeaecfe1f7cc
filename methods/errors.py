"""Failures the user can act on: the command line prints their message as one line (no traceback), exit 1.

Each message names what was wrong (the file, the key, the step). Programming errors stay ordinary exceptions
with their tracebacks.
"""


class SuiteError(RuntimeError):
    """A failure with a one-line explanation for the user."""


class CheckpointError(SuiteError):
    """A checkpoint file that cannot be read or does not fit the model (names the file and the keys)."""


class DataError(SuiteError):
    """Training data that cannot feed a run (e.g. every sample of a stream is corrupt)."""


class DivergedError(SuiteError):
    """Training diverged (non-finite loss, non-finite or exploding weights): the run stops and keeps its last
    good checkpoint."""


class DiskFullError(SuiteError):
    """A write failed for want of space (or quota): the run stops, marked FAILED; its last checkpoint stays."""


def one_line(exn: BaseException) -> str:
    """The user-facing line of an error, also when a DataLoader worker re-raised it with the worker's traceback
    folded into the message ("Caught DataError in DataLoader worker process 0. Original Traceback ...")."""
    text = str(exn).strip()
    if "Traceback (most recent call last)" in text:
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text.splitlines()[0] if text else type(exn).__name__
