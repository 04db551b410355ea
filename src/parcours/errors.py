"""The error hierarchy.

Every error a user can see says what happened, why, and how to fix it, and carries the HTTP
status the API answers with, so one handler maps them all. Anything else escaping to a user is
a bug in parcours.
"""

from __future__ import annotations


class ParcoursError(Exception):
    """Base of every error parcours raises on purpose."""

    http_status: int = 500

    def __init__(self, what: str, fix: str | None = None, *, where: str | None = None) -> None:
        self.what = what
        self.fix = fix
        self.where = where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        if self.where:
            parts.append(f"Where: {self.where}.")
        if self.fix:
            parts.append(f"Fix: {self.fix.rstrip('.')}.")
        return " ".join(parts)

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "error": type(self).__name__,
            "message": self.what,
            "fix": self.fix,
            "where": self.where,
            "status": self.http_status,
        }


class ConfigError(ParcoursError):
    """A setting or a settings file is invalid."""

    http_status = 500


class MappingError(ParcoursError):
    """An import mapping file cannot be used as written."""

    http_status = 400


class InputFileError(ParcoursError):
    """A file to import cannot be read at all (missing, wrong format, unreadable)."""

    http_status = 400


class StoreError(ParcoursError):
    """The store cannot be opened or written."""

    http_status = 503


class StoreLockedError(StoreError):
    """Another process holds the store for writing."""

    http_status = 503


class SchemaVersionError(StoreError):
    """The store was written by a newer parcours than this one."""

    http_status = 500


class BadRequest(ParcoursError):
    """An HTTP request that cannot be served as sent."""

    http_status = 400


class QueryError(ParcoursError):
    """A query of the user's own cannot be run as written."""

    http_status = 400


class Unauthorized(ParcoursError):
    """A request without valid credentials (a write key, a token)."""

    http_status = 401


class Forbidden(ParcoursError):
    """A request for something switched off or not allowed to its sender."""

    http_status = 403


class NotFoundError(ParcoursError):
    """Something asked for by id does not exist."""

    http_status = 404
