"""`parcours import` as a user runs it, reporting its progress on stdout and stopping itself
(SIGSTOP) at a point of that progress, for a test to SIGKILL it exactly there, however loaded
the machine:

    python stopped_import.py committed 2 import FILE ...       # once batch 2 has committed
    python stopped_import.py in-transaction 2 import FILE ...  # batch 2's rows written, not
                                                               # yet committed

It prints `committed N` once a batch has committed, N the file's records read so far, and
`written N` when a batch's N rows are written in its open transaction. It wraps two of the
importer's own steps to know when; nothing else changes.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from parcours.cli import main
from parcours.collect import importer


def report(step: str, say: Callable[[Any, tuple[Any, ...]], str], stop_at: int | None) -> None:
    """After each return of the importer's `step`, print what `say` makes of it; after the
    `stop_at`-th, stop this process."""
    original: Callable[..., Any] = getattr(importer, step)
    calls = 0

    def reported(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = original(*args, **kwargs)
        calls += 1
        print(say(result, args), flush=True)
        if calls == stop_at:
            os.kill(os.getpid(), signal.SIGSTOP)
        return result

    setattr(importer, step, reported)


if __name__ == "__main__":
    where, nth, *command = sys.argv[1:]
    # _import_batch(store, batch, transform, summary, ...) returns once its transaction, which
    # holds the batch and the ledger's row, has committed; `summary.records` counts so far.
    report(
        "_import_batch",
        lambda _, args: f"committed {args[3].records}",
        int(nth) if where == "committed" else None,
    )
    # write_staged runs inside that transaction and returns what it wrote.
    report(
        "write_staged",
        lambda result, _: f"written {result.accepted}",
        int(nth) if where == "in-transaction" else None,
    )
    sys.exit(main(command))
