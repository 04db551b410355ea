"""The version of parcours, in one place below everything that shows it."""

__version__ = "0.1.0"
