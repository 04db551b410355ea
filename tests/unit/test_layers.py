"""Data and imports flow one way (ARCHITECTURE.md): read every import of every module and fail on
one that runs back up the flow, or on packages that import each other in a loop.

Imports inside functions count (a lazy import is still a dependency); so do those under
`TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import parcours

PACKAGE = Path(parcours.__file__).parent

LAYERS: list[set[str]] = [
    {"errors", "sql", "version", "arrays", "config"},
    {"engine"},
    {"store"},
    {"serving"},
    {"collect"},
    {"identity"},
    {"journeys"},
    {"segments"},
    {"automations"},
    # The front ends: they import the capabilities, never the reverse. `parcours` is the root
    # package (the public API), which imports the façade.
    {"parcours", "client", "cli", "api", "demo", "__main__"},
]
FRONT_ENDS = LAYERS[-1]


def _layer(part: str) -> int:
    for number, parts in enumerate(LAYERS):
        if part in parts:
            return number
    raise AssertionError(
        f"parcours.{part} is in no layer: add it to LAYERS in {Path(__file__).name} "
        "(and to ARCHITECTURE.md) where it sits in the flow"
    )


def _part(module: str) -> str:
    """`parcours.identity.resolve` → `identity`; `parcours` → `parcours` (the root)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "parcours"


def _imports() -> dict[str, set[str]]:
    """Each module of the package → the parcours modules it imports."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found[module] |= {n for n in names if n == "parcours" or n.startswith("parcours.")}
    return found


IMPORTS = _imports()


def test_the_package_is_read() -> None:
    """The check below reads real modules: a broken reader would pass it vacuously."""
    assert "parcours.identity.resolve" in IMPORTS
    assert "parcours.store.store" in IMPORTS["parcours.identity.resolve"]


def test_no_import_runs_back_up_the_flow() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items()
        for target in targets
        if _layer(_part(target)) > _layer(_part(module))
        and not (_part(module) in FRONT_ENDS and _part(target) in FRONT_ENDS)
    )
    assert upward == [], "imports against the flow:\n" + "\n".join(upward)


def test_packages_import_each_other_in_no_loop() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in IMPORTS.items():
        for target in targets:
            if _part(module) != _part(target):
                graph[_part(module)].add(_part(target))
    loops = [part for part in graph if _reaches(graph, part, part)]
    # The front ends may use each other (the CLI uses the façade); below them, no loop at all.
    assert sorted(set(loops) - FRONT_ENDS) == []


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        part = todo.pop()
        if part == goal:
            return True
        if part not in seen:
            seen.add(part)
            todo.extend(graph.get(part, ()))
    return False


@pytest.mark.parametrize("layer", range(len(LAYERS) - 1))
def test_each_layer_exists(layer: int) -> None:
    """A renamed package must be renamed here too, or its imports go unchecked."""
    for part in LAYERS[layer]:
        assert (PACKAGE / part).is_dir() or (PACKAGE / f"{part}.py").is_file(), part
