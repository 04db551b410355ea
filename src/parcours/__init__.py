"""parcours: omnichannel customer journeys — collect, resolve, analyse, act.

>>> import parcours
>>> p = parcours.connect("parcours.duckdb")
>>> p.import_file("calls.csv", source="call_centre", mapping="call_centre")
>>> p.journeys.funnel(["Product Viewed", "Order Completed"], Scope(channels=("web", "app")))
"""

from parcours.client import Parcours, connect
from parcours.errors import ParcoursError
from parcours.journeys.scope import Scope
from parcours.version import __version__

__all__ = ["Parcours", "ParcoursError", "Scope", "__version__", "connect"]
