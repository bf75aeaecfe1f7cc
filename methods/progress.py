"""Progress bars for the suite's long loops: on stderr, shown when it is a terminal (or when asked), never in
logs and captured test output."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def bar(iterable=None, desc: str = "", show: bool | None = None, **kw) -> tqdm:
    """A tqdm bar over `iterable`; show=None: only when stderr is a terminal."""
    if show is None:
        show = sys.stderr.isatty()
    return tqdm(iterable, desc=desc, disable=not show, leave=False, dynamic_ncols=True, **kw)
