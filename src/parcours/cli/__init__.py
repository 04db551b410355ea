"""The `parcours` command line: thin commands over the capabilities' services.

`main` (the app and its top-level commands), one module per command group (`identity`,
`journeys`), and `output`: tables for people, JSON and CSV for programs, progress bars.
"""

from parcours.cli.main import main

__all__ = ["main"]
