"""Collect: every interaction becomes one canonical event; nothing is dropped.

File import (`importer`), the mapping files that describe a company's exports (`mapping`), the
pure SQL transform (`transform`, `normalise`), streaming readers (`readers`) and quarantine.
"""
