"""The suite's optional peers — the oracles (pm4py, chdb, ChannelAttribution) and the browser
stack — and the one rule for a missing one: here it skips, saying how to install it; under CI
(`CI` set to anything but 0/false/no) it fails, so a CI run never passes with an oracle unchecked.

tests/conftest.py holds CI to the same rule for any skip that does not come through here.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

TEST_EXTRA = "run `pip install -e '.[test]'` (`make test` does)"
"""How the Python peers are installed: pyproject's `test` extra."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(what: str, install: str) -> NoReturn:
    """`what` is missing here: skip, saying how to `install` it; under CI, fail instead."""
    reason = f"{what}: {install}"
    if in_ci():
        pytest.fail(
            f"{reason} (CI installs every test peer, so a missing one is an error there)",
            pytrace=False,
        )
    pytest.skip(reason)


def peer(module: str) -> ModuleType:
    """The peer `module`, imported; when it cannot be, see `unavailable`."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        why = str(error)  # said outside the handler: the report then shows no chained trace
    unavailable(f"the test peer {module} is not installed ({why})", TEST_EXTRA)
