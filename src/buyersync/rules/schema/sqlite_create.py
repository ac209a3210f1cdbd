"""Edit the ``CREATE TABLE`` statement SQLite keeps for a table.

SQLite cannot change a column's type in place; its documented procedure
(https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema
Changes") is to create a new table from an *edited copy of the original statement*
and copy the rows over. Building the statement afresh from ``PRAGMA table_xinfo``
would lose what the pragma does not report (CHECK, UNIQUE and foreign-key clauses,
COLLATE, generated columns, the statement's own spelling), so the original text is
edited instead, by pattern, in exactly one place: :func:`rewrite_sqlite_create`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from buyersync.rules.schema.checks import IDENT, LENGTH_CHECK_RE, unquote
from buyersync.rules.schema.columns import LimitedColumn
from buyersync.rules.schema.columntypes import TypeKind, classify_type

_TABLE_NAME_RE = re.compile(
    r"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)(?:" + IDENT + r"\.)?" + IDENT, re.I
)


def _type_pattern(declared: str) -> str:
    """A pattern for ``declared`` as written, with any spacing around words and parentheses."""
    out = []
    for part in re.split(r"(\s+|[()])", declared.strip()):
        if not part:
            continue
        if part.isspace():
            out.append(r"\s+")
        elif part in "()":
            out.append(r"\s*" + re.escape(part) + r"\s*")
        else:
            out.append(re.escape(part))
    return "".join(out)


def _ident_pattern(name: str) -> str:
    """A pattern for the identifier ``name`` in any of SQLite's quoting styles."""
    e = re.escape(name)
    dq = re.escape(name.replace('"', '""'))
    return rf'(?:"{dq}"|`{e}`|\[{e}\]|{e}(?![\w$]))'


def rewrite_sqlite_create(
    create_sql: str,
    *,
    new_name: str,
    quote: Callable[[str], str],
    columns: Sequence[LimitedColumn],
) -> str:
    """The table's CREATE statement under ``new_name`` with every limited column
    declared TEXT and its ``CHECK (length(col) <= n)`` constraints removed.

    Everything else (NOT NULL, DEFAULT, PRIMARY KEY, UNIQUE, other CHECKs, foreign
    keys, COLLATE) is kept as written. What cannot be rewritten stays as it was; the
    caller re-reads the new table and reports it.
    """
    sql = _TABLE_NAME_RE.sub(lambda m: m.group(1) + quote(new_name), create_sql, count=1)
    flagged = {c.column.lower() for c in columns}
    for c in columns:
        if classify_type(c.type).kind is not TypeKind.LIMITED:
            continue
        sql = re.sub(
            r"(?P<pre>[(,]\s*"
            + _ident_pattern(c.column)
            + r"\s+)"
            + _type_pattern(c.type)
            + r"(?![\w(])",
            lambda m: m.group("pre") + "TEXT",
            sql,
            count=1,
            flags=re.I,
        )

    def drop_check(m: re.Match[str]) -> str:
        if unquote(m.group("col")).lower() not in flagged:
            return m.group(0)
        return " " if not m.group("lead") else ""

    return LENGTH_CHECK_RE.sub(drop_check, sql)


__all__ = ["rewrite_sqlite_create"]
