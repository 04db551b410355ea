"""A capability's services bound to one store: the one way into them.

A service is a function `service(store, ...)`, pure of any front end. A capability lists its
services on a `Component`, and each front end calls them there: the Python façade
(`p.journeys.funnel(...)`), the command line (through the façade) and the HTTP routes
(`Journeys(reader).funnel(...)`). `service(f)` makes `f` a method with `f`'s own signature (less
the store), type and docstring, so an editor, `help()` and mypy see the real parameters and the
function is written once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from parcours.store.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class Component:
    """Services of one capability over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store


class service(Generic[P, R]):
    """`name = service(function)` on a `Component`: `component.name(...)` is
    `function(component.store, ...)`."""

    def __init__(self, function: Callable[Concatenate[Store, P], R]) -> None:
        self.function = function
        signature = inspect.signature(function)
        self.signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        self.__doc__, self.__name__ = function.__doc__, function.__name__

    @overload
    def __get__(self, component: None, owner: type[Any] | None = None) -> service[P, R]: ...

    @overload
    def __get__(self, component: Component, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(
        self, component: Component | None, owner: type[Any] | None = None
    ) -> service[P, R] | Callable[P, R]:
        if component is None:
            return self
        function, store = self.function, component.store

        @functools.wraps(function)
        def bound(*args: P.args, **kwargs: P.kwargs) -> R:
            return function(store, *args, **kwargs)

        bound.__signature__ = self.signature  # type: ignore[attr-defined]
        return bound
