"""Length CHECK constraints, read from the text the database keeps for them.

* :func:`parse_length_checks` — ``CHECK (length(col) <= n)`` limits in a SQLite
  ``CREATE TABLE`` statement;
* :func:`parse_pg_check` — the same for one PostgreSQL ``pg_get_constraintdef`` text
  (``char_length``/``length``/``octet_length``);
* :func:`sqlite_mixed_checks` / :func:`mixed_check` — CHECKs that limit a length *and*
  test something else (reported, never dropped).

Neither database offers the parts of a CHECK in its catalog, only its text, so the
text is matched against the few shapes a pure length bound takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from buyersync.rules.lengths import LengthCheck, Unit

#: One SQL identifier as SQLite and PostgreSQL may print it: "double", `back`,
#: [bracket] quoted, or bare.
IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\W\d]\w*)'
#: A pure ``CHECK (length(col) <= n)`` (or ``< n``), with the comma before it when it
#: is a separate table constraint (so that removing it leaves valid SQL).
LENGTH_CHECK_RE = re.compile(
    r"(?P<lead>,\s*)?(?:CONSTRAINT\s+" + IDENT + r"\s+)?"
    r"CHECK\s*\(\s*(?P<inner>\()?\s*(?:length|char_length|character_length)\s*\(\s*(?P<col>"
    + IDENT
    + r")\s*\)\s*(?P<op><=|<)\s*(?P<n>\d+)\s*(?(inner)\))\s*\)",
    re.I,
)
_LENGTH_FN = r"(?:char_length|character_length|length|octet_length)"
# One canonical pg_get_constraintdef text that is nothing but a length bound:
# CHECK ((char_length(col) <= n)), CHECK ((length((col)::text) < n)),
# CHECK ((n >= octet_length(col))), optionally followed by NOT VALID.
_PG_ARG = r"(?:(?P<{c}>" + IDENT + r")|\((?P<{p}>" + IDENT + r")\)::[a-z ]+(?:\(\d+\))?)"
_PG_PURE_RE = re.compile(
    r"^CHECK \(\((?:"
    r"(?P<fn1>"
    + _LENGTH_FN
    + r")\("
    + _PG_ARG.format(c="c1", p="p1")
    + r"\) (?P<op1><=|<) (?P<n1>\d+)"
    r"|(?P<n2>\d+) (?P<op2>>=|>) (?P<fn2>"
    + _LENGTH_FN
    + r")\("
    + _PG_ARG.format(c="c2", p="p2")
    + r"\)"
    r")\)\)(?: NOT VALID)?$",
    re.I,
)
_MENTIONS_LENGTH_RE = re.compile(r"\b" + _LENGTH_FN + r"\s*\(", re.I)
_CHECK_START_RE = re.compile(r"(?:CONSTRAINT\s+(?P<name>" + IDENT + r")\s+)?CHECK\s*\(", re.I)
_LENGTH_ARG_RE = re.compile(_LENGTH_FN + r"\s*\(\s*(" + IDENT + r")\s*\)", re.I)


@dataclass(frozen=True)
class ColumnCheck:
    """A pure length CHECK and the one column it bounds."""

    column: str
    check: LengthCheck


@dataclass(frozen=True)
class MixedCheck:
    """A CHECK constraint that limits a length *and* tests something else.

    ``schema fix`` cannot drop it without losing the other condition, so it is
    reported with the reason and what to do, and left in place.
    """

    name: str | None
    columns: tuple[str, ...]
    definition: str

    @property
    def reason(self) -> str:
        return (
            "this CHECK limits the length of "
            + ", ".join(self.columns)
            + " together with other conditions; dropping it would drop those too"
        )

    @property
    def what_to_do(self) -> str:
        label = self.name or "the constraint"
        return (
            f"replace {label} by hand with a CHECK that keeps only the other conditions "
            "(see docs/migration-050.md, 'Mixed CHECK constraints'), then run "
            "buyersync schema check"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "constraint": self.name,
            "columns": list(self.columns),
            "definition": self.definition,
            "reason": self.reason,
            "what_to_do": self.what_to_do,
        }


@dataclass(frozen=True)
class _CheckClause:
    name: str | None  # the constraint's name, when declared
    body: str  # "CHECK (…)", parentheses balanced


def unquote(identifier: str) -> str:
    """The name an identifier token stands for (quotes removed, ``""`` undoubled)."""
    if identifier[:1] == '"' and identifier[-1:] == '"':
        return identifier[1:-1].replace('""', '"')
    if identifier[:1] in "`[" and len(identifier) > 1:
        return identifier[1:-1]
    return identifier


def parse_length_checks(create_sql: str, columns: Iterable[str]) -> dict[str, int]:
    """``{column: n}`` for every ``CHECK (length(col) <= n)`` (or ``< n+1``) in a SQLite
    ``CREATE TABLE`` statement, matched to ``columns`` case-insensitively as SQLite does.

    A compound check (``length(a) <= 5 AND …``) is not a pure length limit and is not
    returned; the rebuild cannot remove it either, and the post-check reports it.
    """
    by_lower = {c.lower(): c for c in columns}
    limits: dict[str, int] = {}
    for m in LENGTH_CHECK_RE.finditer(create_sql):
        column = by_lower.get(unquote(m.group("col")).lower())
        if column is None:
            continue
        n = int(m.group("n")) - (1 if m.group("op") == "<" else 0)
        limits[column] = min(n, limits.get(column, n))
    return limits


def parse_pg_check(definition: str, name: str | None = None) -> ColumnCheck | None:
    """The column and its bound when a PostgreSQL CHECK definition (as
    ``pg_get_constraintdef`` prints it) is exactly one length bound on one column."""
    m = _PG_PURE_RE.match(definition.strip())
    if not m:
        return None
    g = m.groupdict()
    fn = (g["fn1"] or g["fn2"]).lower()
    column = unquote(g["c1"] or g["p1"] or g["c2"] or g["p2"])
    n, op = (g["n1"], g["op1"]) if g["n1"] is not None else (g["n2"], g["op2"])
    limit = int(n) - (1 if op in ("<", ">") else 0)
    unit = Unit.BYTES if fn == "octet_length" else Unit.CHARACTERS
    return ColumnCheck(column, LengthCheck(limit, unit, name))


def mixed_check(
    definition: str, columns: Sequence[str], name: str | None = None
) -> MixedCheck | None:
    """A :class:`MixedCheck` when a CHECK mentions a length function but is not a pure
    length bound (PostgreSQL definitions); None for pure bounds and unrelated CHECKs."""
    if not _MENTIONS_LENGTH_RE.search(definition) or parse_pg_check(definition) is not None:
        return None
    return MixedCheck(name, tuple(columns), definition.strip())


def _check_clauses(create_sql: str) -> Iterator[_CheckClause]:
    """Every CHECK in a CREATE TABLE statement, with balanced parentheses (string
    literals skipped)."""
    for m in _CHECK_START_RE.finditer(create_sql):
        depth, i, quote_char = 1, m.end(), ""
        while i < len(create_sql) and depth:
            ch = create_sql[i]
            if quote_char:
                quote_char = "" if ch == quote_char else quote_char
            elif ch in "'\"`":
                quote_char = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        name = unquote(m.group("name")) if m.group("name") else None
        clause = create_sql[m.start("name") if name else m.start() : i].strip()
        yield _CheckClause(name, clause[clause.upper().index("CHECK") :])


def sqlite_mixed_checks(create_sql: str, columns: Iterable[str]) -> list[MixedCheck]:
    """CHECKs in a SQLite CREATE TABLE that limit a column's length together with other
    conditions (``length(a) <= 5 AND a <> ''``): the rebuild keeps them as written."""
    by_lower = {c.lower(): c for c in columns}
    found: list[MixedCheck] = []
    for clause in _check_clauses(create_sql):
        body = clause.body
        if LENGTH_CHECK_RE.fullmatch(body) or not _MENTIONS_LENGTH_RE.search(body):
            continue
        cols: list[str] = []
        for m in _LENGTH_ARG_RE.finditer(body):
            col = by_lower.get(unquote(m.group(1)).lower())
            if col is not None and col not in cols:
                cols.append(col)
        if cols:
            found.append(MixedCheck(clause.name, tuple(cols), body))
    return found


__all__ = [
    "IDENT",
    "LENGTH_CHECK_RE",
    "ColumnCheck",
    "MixedCheck",
    "mixed_check",
    "parse_length_checks",
    "parse_pg_check",
    "sqlite_mixed_checks",
    "unquote",
]
