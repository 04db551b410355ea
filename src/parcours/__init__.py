"""parcours: omnichannel customer journeys — collect, resolve, analyse, act.

>>> import parcours
>>> p = parcours.connect("parcours.duckdb")
>>> p.import_file("calls.csv", source="call_centre", mapping="call_centre")
>>> p.journeys.funnel(["Product Viewed", "Order Completed"], Scope(channels=("web", "app")))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from parcours.version import __version__

if TYPE_CHECKING:
    from parcours.client import Parcours, connect
    from parcours.errors import ParcoursError
    from parcours.journeys.scope import Scope

__all__ = ["Parcours", "ParcoursError", "Scope", "__version__", "connect"]

_HOMES = {
    "Parcours": "parcours.client",
    "connect": "parcours.client",
    "ParcoursError": "parcours.errors",
    "Scope": "parcours.journeys.scope",
}
"""Where each public name lives. Imported when first used (PEP 562), not with the package:
the command line imports the package too, and `parcours --help` should not wait for the
engine, Arrow and numpy."""


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'parcours' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
