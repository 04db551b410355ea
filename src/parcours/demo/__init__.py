"""A generated omnichannel world with a known truth, for demos, tests and benchmarks."""

from parcours.demo.world import DemoExport, DemoWorld, generate_world

__all__ = ["DemoExport", "DemoWorld", "generate_world"]
