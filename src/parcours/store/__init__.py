"""The store: the canonical tables, their migrations, and writing/reading events."""
