"""`python -m parcours` runs the command line."""

import sys

from parcours.cli import main

sys.exit(main())
