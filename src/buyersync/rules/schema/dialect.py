"""The one fact about a database that the schema rules need to know."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchemaDialect:
    """How a database treats a declared length, as the store describes it.

    The rules never ask which database they judge; the store passes this value
    (:func:`buyersync.store.catalog.schema_dialect`).
    """

    name: str  # for labels only ("postgresql", "sqlite")
    #: True when a longer value in a VARCHAR(n)/CHAR(n) is refused (PostgreSQL);
    #: False when only a length CHECK is enforced and the width is decoration (SQLite).
    enforces_declared_width: bool


__all__ = ["SchemaDialect"]
