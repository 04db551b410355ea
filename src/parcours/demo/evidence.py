"""Which of a customer's identifiers the exports give any evidence for joining.

Two identifiers of one customer can only be joined through a chain of evidence in the stored
records: two identifiers on one record (a login on the web, a loyalty card on a receipt, a CRM
row), or two records that describe the customer well enough to tell them from other people —
both record the first and family names and also a birth date or a street address. A name, even
with a postcode, is not enough: the world's 50 first names, 60 family names and 30 towns give
many customers the same, so a system that joined on them would be guessing. Values may carry
typos; what counts is what each record says about the person, not how well it is typed, so the
matcher is still tested on noisy data.

A customer's identifiers fall into *evidence groups*. An identifier alone in its group — a
cookie of a visitor who never signed in, bought or gave an email; an app never logged in; a
receipt paid without a card or a name; an address only the email platform knows — carries no
signal any system could use, and two groups of one customer have no evidence between them. The
truth (identifiers.csv) records each identifier's group, so recall can be scored against what
the exports make attainable as well as against every identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

Identifier = tuple[str, str]
"""(type, value), as parcours stores it."""

NAMES = frozenset({"first_name", "last_name"})
TELLING = frozenset({"birth_date", "street"})
"""Attributes that, with the names, tell one person from another."""


def corroborate(left: frozenset[str], right: frozenset[str]) -> bool:
    """Whether two records describing a person by these attributes are evidence of one person:
    both give the names, and a birth date or a street address too."""
    common = left & right
    return common >= NAMES and bool(common & TELLING)


class Evidence:
    """The evidence one customer's stored records give: a union–find over identifiers."""

    def __init__(self) -> None:
        self._parent: dict[Identifier, Identifier] = {}
        self._described: dict[tuple[Identifier, frozenset[str]], None] = {}

    def record(self, identifiers: Sequence[Identifier], describes: frozenset[str]) -> None:
        """A stored record carrying these identifiers, describing the customer by these person
        attributes (empty: it describes nobody)."""
        for identifier in identifiers:
            self._parent.setdefault(identifier, identifier)
        for other in identifiers[1:]:
            self._union(identifiers[0], other)
        if identifiers and describes:
            self._described[(identifiers[0], describes)] = None

    def groups(self) -> dict[Identifier, int]:
        """Each identifier's evidence group, numbered from 1 in the order identifiers were
        first recorded."""
        for (left, said), (right, also) in combinations(self._described, 2):
            if corroborate(said, also):
                self._union(left, right)
        numbers: dict[Identifier, int] = {}
        groups = {}
        for identifier in self._parent:
            root = self._find(identifier)
            groups[identifier] = numbers.setdefault(root, len(numbers) + 1)
        return groups

    def _find(self, identifier: Identifier) -> Identifier:
        parent = self._parent
        while parent[identifier] != identifier:
            parent[identifier] = parent[parent[identifier]]
            identifier = parent[identifier]
        return identifier

    def _union(self, left: Identifier, right: Identifier) -> None:
        a, b = self._find(left), self._find(right)
        if a != b:
            self._parent[b] = a
