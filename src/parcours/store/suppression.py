"""The suppression list: an erased person stays erased, whatever is imported again.

Erasure removes the person, but an old export imported again, or a live message acknowledged
before the erasure and loaded after it, still carries their identifiers. So erasure also adds
each identifier to `erased_identifiers` as a salted SHA-256 (the salt is drawn once per store,
in `erasure_salt`; the identifier itself is never kept), and every import — files, the live
journal's loads, replays — checks the records it staged against that list. A record carrying
an erased identifier is not stored as an event: it goes to quarantine with the reason `erased`,
and with its content withheld (a fingerprint instead of the record), since keeping it would
bring the person back in another table.

This lives in the store, below both stations: identity writes the list, collect reads it.
"""

from __future__ import annotations

from parcours.engine import Engine
from parcours.sql import lit
from parcours.store.schema import IDENTIFIER_TYPES
from parcours.store.writer import STAGED, staged_record

TABLE = "erased_identifiers"
REASON_CODE = "erased"
FOUND = "_parcours_erased_found"
"""The staged batch's identifiers found on the list (temporary, per batch)."""


def hashed(identifiers: str) -> str:
    """The rows `identifiers` selects (SQL with columns `type, value`), each with its salted
    hash as `identifier_hash`.

    The salt is joined once rather than read by a subquery inside the hash: a subquery there
    would keep the engine from joining on the hash (a nested loop, quadratic in the rows)."""
    return (
        "SELECT i.*, sha256(k.salt || chr(0) || i.type || chr(0) || i.value) AS identifier_hash "
        f"FROM ({identifiers}) i CROSS JOIN erasure_salt k"
    )


def suppress(engine: Engine, identifiers: str, request_id: str) -> int:
    """Add the identifiers `identifiers` selects (SQL with columns `type, value`) to the list,
    stamped with the erasure's `request_id`; return how many were new."""
    return engine.write(
        f"INSERT INTO {TABLE} SELECT DISTINCT identifier_hash, now(), ? "
        f"FROM ({hashed(identifiers)}) "
        f"WHERE identifier_hash NOT IN (SELECT identifier_hash FROM {TABLE})",
        [request_id],
    )


def _staged_identifiers() -> str:
    """Every identifier on the staged records, as `identity` reads them off events."""
    return (
        f"SELECT _record_no, 'anonymous_id' AS type, anonymous_id AS value FROM {STAGED} "
        "WHERE anonymous_id IS NOT NULL "
        f"UNION ALL SELECT _record_no, 'user_id', user_id FROM {STAGED} WHERE user_id IS NOT NULL "
        "UNION ALL SELECT _record_no, i.type, i.value FROM ("
        f"SELECT _record_no, unnest(identifiers) AS i FROM {STAGED}) WHERE i.value IS NOT NULL"
    )


def any_erased(engine: Engine) -> bool:
    return bool(engine.scalar(f"SELECT EXISTS (SELECT 1 FROM {TABLE})"))


def withheld_text_query(relation: str) -> str:
    """`relation` (`record_number, raw, reason`: records the reader could not parse, which no
    mapping has read) with `reason_code`, and with the record withheld as `erased` when a word
    of its text is an erased identifier.

    Unparsed text has no fields to read identifiers from: each word of it (split at spaces,
    quotes and the usual delimiters) is taken for an identifier of every type, as written and
    lower-cased. A phone written with spaces inside is not found this way."""
    types = "', '".join(("anonymous_id", "user_id", *IDENTIFIER_TYPES))
    words = (
        "SELECT DISTINCT w.record_number, t.type, w.value FROM (SELECT record_number, "
        "unnest(list_distinct(list_concat(ws, list_transform(ws, lambda x: lower(x))))) AS value "
        f"FROM (SELECT record_number, regexp_extract_all(raw, {lit(WORD)}) AS ws "
        f"FROM {relation})) w CROSS JOIN (SELECT unnest(list_distinct(['{types}'] || "
        "coalesce((SELECT list(DISTINCT type) FROM identity_map), []))) AS type) t"
    )
    erased = (
        f"SELECT h.record_number, min(x.erased_at) AS erased_at FROM ({hashed(words)}) h "
        f"JOIN {TABLE} x ON x.identifier_hash = h.identifier_hash GROUP BY h.record_number"
    )
    return (
        "SELECT u.record_number, "
        "CASE WHEN e.erased_at IS NULL THEN u.raw ELSE json_object('withheld', "
        "'carries an erased identifier', "
        "'record_md5', md5((SELECT salt FROM erasure_salt) || u.raw))::VARCHAR END AS raw, "
        f"CASE WHEN e.erased_at IS NULL THEN 'unparseable' ELSE '{REASON_CODE}' END "
        "AS reason_code, "
        "CASE WHEN e.erased_at IS NULL THEN u.reason ELSE 'carries an identifier erased on ' "
        "|| strftime(e.erased_at, '%Y-%m-%d') || ' at the person''s request' END AS reason "
        f"FROM {relation} u LEFT JOIN ({erased}) e USING (record_number)"
    )


WORD = r"[^\s,;|\t\"'{}\[\]()<>=]+"
"""A word of unparsed text: what lies between spaces, quotes, brackets and delimiters."""


def withhold_erased(engine: Engine) -> int:
    """Turn the staged records that carry an erased identifier into quarantine candidates
    with the reason `erased` and their content withheld; return how many.

    Call after `writer.stage` and before `writer.write_staged`. The withheld record keeps a
    fingerprint (the MD5 of the store's salt and the record: a copy of the record cannot
    confirm it was here), so the same record imported twice is quarantined once, and two
    different records stay two."""
    if not any_erased(engine):
        return 0
    # Each distinct identifier is hashed once (a batch repeats its visitors' ids); only when
    # some are found erased are their records looked for.
    staged = _staged_identifiers()
    engine.execute_script(
        f"CREATE OR REPLACE TEMP TABLE {FOUND} AS SELECT h.type, h.value, x.erased_at "
        f"FROM ({hashed(f'SELECT DISTINCT type, value FROM ({staged})')}) h "
        f"JOIN {TABLE} x ON x.identifier_hash = h.identifier_hash"
    )
    if not engine.scalar(f"SELECT count(*) FROM {FOUND}"):
        return 0
    erased = (
        f"SELECT s._record_no, min(f.erased_at) AS erased_at FROM ({staged}) s "
        f"JOIN {FOUND} f ON f.type = s.type AND f.value = s.value GROUP BY s._record_no"
    )
    return engine.write(
        f"UPDATE {STAGED} SET _reason_code = '{REASON_CODE}', "
        "_reason = 'carries an identifier erased on ' || strftime(w.erased_at, '%Y-%m-%d') || "
        "' at the person''s request', "
        "_raw = json_object('withheld', 'carries an erased identifier', "
        f"'record_md5', md5((SELECT salt FROM erasure_salt) || {staged_record(STAGED)}))::VARCHAR "
        f"FROM ({erased}) w WHERE {STAGED}._record_no = w._record_no"
    )
