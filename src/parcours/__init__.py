"""parcours: omnichannel customer journeys — collect, resolve, analyse, act.

>>> import parcours
>>> p = parcours.connect("parcours.duckdb")
>>> p.import_file("calls.csv", source="call_centre", mapping="call_centre")
"""

from parcours.client import Parcours, connect
from parcours.errors import ParcoursError

__version__ = "0.1.0"

__all__ = ["Parcours", "ParcoursError", "__version__", "connect"]
