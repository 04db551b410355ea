"""The `parcours` command line: thin commands over the capabilities' services.

`main` (the app and its top-level commands), one module per command group (`identity`,
`journeys`), and `output`: tables for people, JSON and CSV for programs, progress bars.

Start-up is part of every command's time: each command imports its services when it runs, and
the modules that hold commands do not defer their annotations (no `from __future__ import
annotations`), because Typer reads every command's parameters at every start and would first
have to compile each deferred one from its text (half of what building the commands costs).
`bench/startup.py` measures what start-up adds to a command's work.
"""

from parcours.cli.main import main

__all__ = ["main"]
