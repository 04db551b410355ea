"""Identity: identifiers seen on events become one customer, under declared rules.

`rules` (what may link), `graph` (the pure SQL that reads identifiers and their co-occurrence
from events), `resolve` (the rule-keeping union of the graph, written as the identifier →
customer map with an audit row per link), `explain` (why identifiers are one customer) and
`customers` (lookup by any identifier).
"""
