"""Schema decisions for Migration 050, as pure functions over catalog facts.

* :func:`classify_type` — is a declared column type length-limited text, and its limit;
* :func:`limited_columns` — which columns of ``buyers`` to report (property 1: every
  length-limited text column, and nothing else);
* :func:`parse_length_checks` — ``CHECK (length(col) <= n)`` limits in a SQLite
  ``CREATE TABLE`` statement; :func:`parse_pg_check` — the same for one PostgreSQL
  ``pg_get_constraintdef`` text (``char_length``/``length``/``octet_length``);
  :func:`sqlite_mixed_checks` / :func:`mixed_check` — CHECKs that limit a length *and*
  test something else (reported, never dropped);
* :func:`would_fail` — which sheet rows would be rejected under the current limits,
  with column, limit and value length, before anything is written;
* :func:`postgres_plan_sql` / :func:`sqlite_plan_sql` / :func:`render_script` — the
  Migration 050 statements, built as text so the printed script is exactly what
  ``schema fix --apply`` runs.

Callers read the catalog (:mod:`buyersync.store.catalog`) and pass the facts in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from buyersync.records import SheetRow
from buyersync.rules.lengths import ColumnLimit, Excess, LengthCheck, Unit, excess
from buyersync.rules.normalize import KEY_COLUMN, ColumnMap, normalize_key

#: The command an operator runs to fix what the validator reports.
FIX_COMMAND = "buyersync schema fix --apply"
#: Name under which SQLite builds the converted table before swapping it in.
SQLITE_NEW_TABLE = "buyers__migration_050"

Quote = Callable[[str], str]


class TypeKind(enum.StrEnum):
    """What a declared column type means for the values a sheet can put in it."""

    TEXT = "text"  # unlimited text: TEXT, CLOB, VARCHAR/CHARACTER VARYING without a length
    LIMITED = "limited"  # VARCHAR(n) / CHAR(n) and their spellings: at most n characters
    OTHER = "other"  # numbers, timestamps, booleans, JSON, arrays… (not free text)


class LimitSource(enum.StrEnum):
    """Where a column's length limit comes from."""

    TYPE = "type"  # the column's declared type is VARCHAR(n) / CHAR(n)
    DOMAIN = "domain"  # the column's type is a domain over VARCHAR(n) / CHAR(n)
    CHECK = "check"  # a CHECK (length(col) <= n) constraint (SQLite, or PostgreSQL on any type)


@dataclass(frozen=True)
class TypeInfo:
    """A classified declared type; ``limit`` is set only for :attr:`TypeKind.LIMITED`."""

    kind: TypeKind
    limit: int | None = None


@dataclass(frozen=True)
class LimitedColumn:
    """A ``buyers`` column that cannot hold an arbitrarily long value.

    ``limit`` is the smallest of the limits that apply; ``enforced`` is false for a
    SQLite VARCHAR(n) without a CHECK (SQLite stores longer values anyway, but the
    declaration still says the column is not TEXT — requirement 1.1). ``checks`` are
    the pure length CHECK constraints on the column (``schema fix`` drops them);
    ``type_limited`` says whether the type itself must change to TEXT.
    """

    column: str
    type: str
    limit: int
    source: LimitSource
    enforced: bool = True
    domain: str | None = None
    checks: tuple[LengthCheck, ...] = ()
    type_limited: bool = True
    base_type: str | None = None  # a domain's base type (what the domain limits)

    def to_json(self) -> dict[str, object]:
        return {
            "column": self.column,
            "type": self.type,
            "limit": self.limit,
            "source": str(self.source),
            "enforced": self.enforced,
            "domain": self.domain,
            "constraints": [
                {"name": c.name, "limit": c.limit, "unit": str(c.unit)} for c in self.checks
            ],
        }

    def column_limit(self, dialect: str) -> ColumnLimit:
        """The bounds the database enforces on this column (see :mod:`.lengths`)."""
        declared = self.base_type or self.type
        info = classify_type(declared)
        type_limit = info.limit if dialect == "postgresql" and self.type_limited else None
        padded = type_limit is not None and _is_padded(declared)
        return ColumnLimit(type_limit, padded, self.checks)


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


def _is_padded(declared: str) -> bool:
    """char(n)/character(n)/nchar(n)/bpchar(n): stored padded with spaces to n."""
    return bool(
        re.match(r"^\s*(?:(?:national\s+)?(?:char|character)|nchar|bpchar)\s*\(", declared, re.I)
    )


# VARCHAR(n), CHAR(n), CHARACTER VARYING(n), NATIONAL CHARACTER(n), NVARCHAR(n), NCHAR(n),
# VARYING CHARACTER(n), VARCHAR2(n), NVARCHAR2(n) — with any spacing and case.
_LIMITED_RE = re.compile(
    r"""^\s*(?:
            (?:national\s+)?(?:char|character)(?:\s+varying)?
          | varying\s+(?:char|character)
          | n?varchar2? | nchar | bpchar
        )\s*\(\s*(?P<n>\d+)\s*(?:\s+(?:char|byte)\s*)?\)\s*$""",
    re.I | re.X,
)
_TEXT_RE = re.compile(
    r"""^\s*(?:text|clob|string|
          (?:national\s+)?(?:char|character)\s+varying|varying\s+(?:char|character)|
          n?varchar2?|nchar\s+varying|bpchar)\s*$""",
    re.I | re.X,
)


def classify_type(declared: str) -> TypeInfo:
    """Classify a declared type (PostgreSQL ``format_type`` or a SQLite declaration).

    ``character varying(50)`` and ``CHAR(8)`` are LIMITED with their limit; ``text``
    and a VARCHAR without a length are TEXT; everything else (including arrays of
    varchar and PostgreSQL's one-byte ``"char"``) is OTHER.
    """
    m = _LIMITED_RE.match(declared)
    if m:
        return TypeInfo(TypeKind.LIMITED, int(m.group("n")))
    if _TEXT_RE.match(declared):
        return TypeInfo(TypeKind.TEXT)
    return TypeInfo(TypeKind.OTHER)


_IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\W\d]\w*)'
_CHECK_RE = re.compile(
    r"(?P<lead>,\s*)?(?:CONSTRAINT\s+" + _IDENT + r"\s+)?"
    r"CHECK\s*\(\s*(?P<inner>\()?\s*(?:length|char_length|character_length)\s*\(\s*(?P<col>"
    + _IDENT
    + r")\s*\)\s*(?P<op><=|<)\s*(?P<n>\d+)\s*(?(inner)\))\s*\)",
    re.I,
)


def _unquote(identifier: str) -> str:
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
    for m in _CHECK_RE.finditer(create_sql):
        column = by_lower.get(_unquote(m.group("col")).lower())
        if column is None:
            continue
        n = int(m.group("n")) - (1 if m.group("op") == "<" else 0)
        limits[column] = min(n, limits.get(column, n))
    return limits


_LENGTH_FN = r"(?:char_length|character_length|length|octet_length)"
# One canonical pg_get_constraintdef text that is nothing but a length bound:
# CHECK ((char_length(col) <= n)), CHECK ((length((col)::text) < n)),
# CHECK ((n >= octet_length(col))), optionally followed by NOT VALID.
_PG_ARG = r"(?:(?P<{c}>" + _IDENT + r")|\((?P<{p}>" + _IDENT + r")\)::[a-z ]+(?:\(\d+\))?)"
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


def parse_pg_check(definition: str, name: str | None = None) -> tuple[str, LengthCheck] | None:
    """``(column, LengthCheck)`` when a PostgreSQL CHECK definition (as
    ``pg_get_constraintdef`` prints it) is exactly one length bound on one column."""
    m = _PG_PURE_RE.match(definition.strip())
    if not m:
        return None
    g = m.groupdict()
    fn = (g["fn1"] or g["fn2"]).lower()
    column = _unquote(g["c1"] or g["p1"] or g["c2"] or g["p2"])
    n, op = (g["n1"], g["op1"]) if g["n1"] is not None else (g["n2"], g["op2"])
    limit = int(n) - (1 if op in ("<", ">") else 0)
    unit = Unit.BYTES if fn == "octet_length" else Unit.CHARACTERS
    return column, LengthCheck(limit, unit, name)


def mixed_check(
    definition: str, columns: Sequence[str], name: str | None = None
) -> MixedCheck | None:
    """A :class:`MixedCheck` when a CHECK mentions a length function but is not a pure
    length bound (PostgreSQL definitions); None for pure bounds and unrelated CHECKs."""
    if not _MENTIONS_LENGTH_RE.search(definition) or parse_pg_check(definition) is not None:
        return None
    return MixedCheck(name, tuple(columns), definition.strip())


def _check_clauses(create_sql: str) -> Iterator[tuple[str | None, str]]:
    """``(constraint name, "CHECK (…)")`` for every CHECK in a CREATE TABLE statement,
    with balanced parentheses (string literals skipped)."""
    for m in re.finditer(
        r"(?:CONSTRAINT\s+(?P<name>" + _IDENT + r")\s+)?CHECK\s*\(", create_sql, re.I
    ):
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
        name = _unquote(m.group("name")) if m.group("name") else None
        yield name, create_sql[m.start("name") if name else m.start() : i].strip()


def sqlite_mixed_checks(create_sql: str, columns: Iterable[str]) -> list[MixedCheck]:
    """CHECKs in a SQLite CREATE TABLE that limit a column's length together with other
    conditions (``length(a) <= 5 AND a <> ''``): the rebuild keeps them as written."""
    by_lower = {c.lower(): c for c in columns}
    found: list[MixedCheck] = []
    for name, clause in _check_clauses(create_sql):
        body = clause[clause.upper().index("CHECK") :]
        if _CHECK_RE.fullmatch(body) or not _MENTIONS_LENGTH_RE.search(body):
            continue
        cols = []
        for m in re.finditer(_LENGTH_FN + r"\s*\(\s*(" + _IDENT + r")\s*\)", body, re.I):
            col = by_lower.get(_unquote(m.group(1)).lower())
            if col is not None and col not in cols:
                cols.append(col)
        if cols:
            found.append(MixedCheck(name, tuple(cols), body))
    return found


def limited_columns(
    columns: Mapping[str, str],
    *,
    dialect: str,
    domains: Mapping[str, str] | None = None,
    checks: Mapping[str, int | Sequence[LengthCheck]] | None = None,
) -> list[LimitedColumn]:
    """The length-limited text columns of a table, in table order (property 1).

    ``columns`` maps name → declared type; ``domains`` maps a domain-typed column to
    the domain's base type; ``checks`` holds the pure length CHECK constraints per
    column (an ``int`` is a nameless character limit). On SQLite a declared
    VARCHAR(n) is reported but not ``enforced``; a TEXT column with a length CHECK is
    reported on both (``type_limited`` false: only the CHECK needs to go).
    """
    domains = domains or {}
    checks = checks or {}
    found: list[LimitedColumn] = []
    for name, declared in columns.items():
        base = domains.get(name)
        info = classify_type(base if base is not None else declared)
        type_limit = info.limit if info.kind is TypeKind.LIMITED else None
        raw = checks.get(name)
        col_checks = (LengthCheck(raw),) if isinstance(raw, int) else tuple(raw or ())
        char_checks = [c.limit for c in col_checks if c.unit is Unit.CHARACTERS]
        check_limit = (
            min(char_checks)
            if char_checks
            else (min(c.limit for c in col_checks) if col_checks else None)
        )
        if type_limit is None and check_limit is None:
            continue
        source = LimitSource.DOMAIN if base is not None else LimitSource.TYPE
        if dialect == "sqlite":
            # SQLite enforces only a CHECK, never the declared width.
            enforced = check_limit is not None
            if check_limit is not None:
                limit, source = check_limit, LimitSource.CHECK
            else:
                assert type_limit is not None
                limit = type_limit
        else:
            enforced = True
            if type_limit is None or (check_limit is not None and check_limit < type_limit):
                assert check_limit is not None
                limit, source = check_limit, LimitSource.CHECK
            else:
                limit = type_limit
        found.append(
            LimitedColumn(
                name,
                declared,
                limit,
                source,
                enforced,
                declared if base is not None else None,
                col_checks,
                type_limit is not None,
                base,
            )
        )
    return found


def enforced_limits(
    columns: Iterable[LimitedColumn], dialect: str = "postgresql"
) -> dict[str, ColumnLimit]:
    """``{column: ColumnLimit}`` of the limits the database actually enforces."""
    return {c.column: c.column_limit(dialect) for c in columns if c.enforced}


# -- which rows would fail ------------------------------------------------------------


@dataclass(frozen=True)
class Overflow:
    """One value longer than its column allows."""

    column: str
    limit: int
    length: int
    unit: Unit = Unit.CHARACTERS
    constraint: str | None = None  # the CHECK constraint that refuses it, if not the type

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"column": self.column, "limit": self.limit, "length": self.length}
        if self.unit is not Unit.CHARACTERS:
            out["unit"] = str(self.unit)
        if self.constraint:
            out["constraint"] = self.constraint
        return out

    def describe(self) -> str:
        """``name is 60 characters (limit 50)`` — for messages."""
        return Excess(self.length, self.limit, self.unit, self.constraint).describe(self.column)


@dataclass(frozen=True)
class OverflowRow:
    """A sheet row that the database would reject under the current limits."""

    row_number: int
    buyer_number: str | None
    overflows: tuple[Overflow, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "row_number": self.row_number,
            "buyer_number": self.buyer_number,
            "columns": [o.to_json() for o in self.overflows],
        }


Limits = Mapping[str, int | ColumnLimit]


def _overflow(column: str, value: str, limit: int | ColumnLimit) -> Overflow | None:
    e = excess(value, limit)
    return None if e is None else Overflow(column, e.limit, e.length, e.unit, e.constraint)


def row_overflows(values: Mapping[str, str | None], limits: Limits) -> tuple[Overflow, ...]:
    """The values of one row the database would refuse for their length
    (:func:`buyersync.rules.lengths.excess`: exactly as the database decides)."""
    found = (
        _overflow(column, value, limits[column])
        for column, value in values.items()
        if value is not None and column in limits
    )
    return tuple(o for o in found if o is not None)


def would_fail(
    rows: Iterable[SheetRow], colmap: ColumnMap, limits: Limits
) -> Iterator[OverflowRow]:
    """Yield every non-blank row with a value longer than its column's limit.

    The buyer number is measured after normalization, as it is stored. Values are
    measured exactly as the sync writes them, so this predicts the sync's
    ``value_too_long`` failures row for row.
    """
    if not limits:
        return
    pairs = [
        (i, c)
        for i, c in enumerate(colmap.columns)
        if c is not None and i != colmap.key_index and c in limits
    ]
    key_limit = limits.get(KEY_COLUMN)
    for row in rows:
        values = row.values
        if not any(v.strip() for v in values):
            continue
        key = normalize_key(values[colmap.key_index]) if colmap.key_index < len(values) else ""
        cells: dict[str, str | None] = {c: values[i] for i, c in pairs if i < len(values)}
        over = row_overflows(cells, limits)
        key_over = _overflow(KEY_COLUMN, key, key_limit) if key_limit is not None else None
        if key_over is not None:
            over = (key_over, *over)
        if over:
            yield OverflowRow(row.row_number, key or None, over)


# -- the fix script ----------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One privilege on a view; ``grantee`` None means PUBLIC; ``column`` set for a
    column-level grant (``GRANT SELECT (col) ON view``)."""

    grantee: str | None
    privilege: str
    grantable: bool = False
    column: str | None = None


@dataclass(frozen=True)
class Dependent:
    """A view or materialized view that must be dropped and recreated around the ALTER.

    ``depth`` 1 reads ``buyers`` directly, 2 reads a depth-1 view, and so on.
    """

    schema: str
    name: str
    materialized: bool
    definition: str
    depth: int = 1
    owner: str | None = None
    options: tuple[str, ...] = ()
    populated: bool = True
    grants: tuple[Grant, ...] = ()
    indexes: tuple[str, ...] = ()
    comment: str | None = None
    #: ``(column, comment)`` for every commented column of the view
    column_comments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SqliteObject:
    """An index, trigger or view from ``sqlite_master`` (its name and CREATE statement)."""

    type: str
    name: str
    table: str
    sql: str


@dataclass(frozen=True)
class FixPlan:
    """Everything Migration 050 will do, as SQL statements in order.

    ``backup`` runs first on its own; ``convert`` runs in one transaction. On
    PostgreSQL ``alters`` (one per column) run inside ``convert`` each in its own
    savepoint so that one column that cannot change does not stop the others.
    """

    dialect: str
    backup_table: str
    backup: tuple[str, ...]
    before: tuple[str, ...]
    alters: tuple[tuple[str, str], ...]
    after: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: PostgreSQL: ``ALTER TABLE … DROP CONSTRAINT`` for every pure length CHECK, run
    #: inside ``convert`` after ``before`` and before ``alters``.
    drop_checks: tuple[str, ...] = field(default_factory=tuple)
    #: length CHECKs mixed with other conditions: left in place, named in the script
    kept: tuple[MixedCheck, ...] = field(default_factory=tuple)
    #: Names of the views and materialized views dropped and recreated.
    dependents: tuple[str, ...] = field(default_factory=tuple)


def backup_table_name(now: datetime, existing: Iterable[str], table: str = "buyers") -> str:
    """``buyers_backup_YYYYMMDD``; with ``_HHMMSS`` (and a counter) when taken already."""
    taken = set(existing)
    name = f"{table}_backup_{now:%Y%m%d}"
    if name not in taken:
        return name
    name = f"{name}_{now:%H%M%S}"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def quote_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings, on by default since
    PostgreSQL 9.1: a backslash is an ordinary character, a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _qualified(quote: Quote, schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def postgres_plan_sql(
    *,
    quote: Quote,
    table: str,
    columns: Sequence[LimitedColumn],
    dependents: Sequence[Dependent],
    backup_table: str,
    add_columns: Sequence[str] = (),
    current_user: str | None = None,
    mixed: Sequence[MixedCheck] = (),
) -> FixPlan:
    """The PostgreSQL Migration 050: back up, drop dependents, ALTER … TYPE text,
    recreate dependents with their options, owners, grants (table- and column-level),
    comments (on the view and its columns) and indexes.

    Column comments on ``buyers`` itself need nothing: ALTER … TYPE keeps them."""
    t = quote(table)
    ordered = sorted(dependents, key=lambda d: d.depth)
    before = [
        f"DROP {'MATERIALIZED VIEW' if d.materialized else 'VIEW'} "
        f"{_qualified(quote, d.schema, d.name)}"
        for d in reversed(ordered)
    ]
    # A TEXT column limited only by a CHECK keeps its type: only the CHECK goes.
    alters = tuple(
        (c.column, f"ALTER TABLE {t} ALTER COLUMN {quote(c.column)} TYPE text")
        for c in columns
        if c.type_limited
    )
    drop_checks = tuple(
        f"ALTER TABLE {t} DROP CONSTRAINT {quote(k.name)}"
        for c in columns
        for k in c.checks
        if k.name
    )
    after: list[str] = []
    for d in ordered:
        name = _qualified(quote, d.schema, d.name)
        body = d.definition.strip().rstrip(";")
        with_opts = f" WITH ({', '.join(d.options)})" if d.options else ""
        if d.materialized:
            data = "" if d.populated else " WITH NO DATA"
            after.append(f"CREATE MATERIALIZED VIEW {name}{with_opts} AS\n{body}{data}")
        else:
            after.append(f"CREATE VIEW {name}{with_opts} AS\n{body}")
        after.extend(d.indexes)
        kind = "MATERIALIZED VIEW" if d.materialized else "VIEW"
        if d.owner and d.owner != current_user:
            after.append(f"ALTER {kind} {name} OWNER TO {quote(d.owner)}")
        for g in d.grants:
            who = "PUBLIC" if g.grantee is None else quote(g.grantee)
            option = " WITH GRANT OPTION" if g.grantable else ""
            cols = f" ({quote(g.column)})" if g.column is not None else ""
            after.append(f"GRANT {g.privilege}{cols} ON {name} TO {who}{option}")
        if d.comment is not None:
            after.append(f"COMMENT ON {kind} {name} IS {quote_literal(d.comment)}")
        for column, text in d.column_comments:
            after.append(f"COMMENT ON COLUMN {name}.{quote(column)} IS {quote_literal(text)}")
    after.extend(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {quote(c)} text" for c in add_columns)
    notes = tuple(
        f"{c.column} is of domain {c.domain}: it becomes plain text (the domain's own "
        "constraints no longer apply to it)"
        for c in columns
        if c.domain
    ) + tuple(
        f"{c.column} is {c.type}: the padding spaces of its values are dropped (they are "
        "not content: PostgreSQL ignores them when comparing and casting to text)"
        for c in columns
        if c.type_limited and c.column_limit("postgresql").padded
    )
    return FixPlan(
        dialect="postgresql",
        backup_table=backup_table,
        # LIKE … INCLUDING ALL keeps the types, defaults, constraints and indexes, so
        # rolling back is a rename (docs/migration-050.md).
        backup=(
            f"CREATE TABLE {quote(backup_table)} (LIKE {t} INCLUDING ALL)",
            f"INSERT INTO {quote(backup_table)} OVERRIDING SYSTEM VALUE SELECT * FROM {t}",
        ),
        before=tuple(before),
        alters=alters,
        after=tuple(after),
        notes=notes,
        dependents=tuple(f"{d.schema}.{d.name}" for d in ordered),
        drop_checks=drop_checks,
        kept=tuple(mixed),
    )


def _type_pattern(declared: str) -> str:
    parts = re.split(r"(\s+|[()])", declared.strip())
    out = []
    for p in parts:
        if not p:
            continue
        if p.isspace():
            out.append(r"\s+")
        elif p in "()":
            out.append(r"\s*" + re.escape(p) + r"\s*")
        else:
            out.append(re.escape(p))
    return "".join(out)


def _ident_pattern(name: str) -> str:
    e = re.escape(name)
    dq = re.escape(name.replace('"', '""'))
    return rf'(?:"{dq}"|`{e}`|\[{e}\]|{e}(?![\w$]))'


def rewrite_sqlite_create(
    create_sql: str, *, new_name: str, quote: Quote, columns: Sequence[LimitedColumn]
) -> str:
    """The table's CREATE statement under ``new_name`` with every limited column
    declared TEXT and its ``CHECK (length(col) <= n)`` constraints removed.

    Everything else (NOT NULL, DEFAULT, PRIMARY KEY, UNIQUE, other CHECKs, foreign
    keys, COLLATE) is kept as written. What cannot be rewritten stays as it was; the
    caller re-reads the new table and reports it.
    """
    sql = re.sub(
        r"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)(?:" + _IDENT + r"\.)?" + _IDENT,
        lambda m: m.group(1) + quote(new_name),
        create_sql,
        count=1,
        flags=re.I,
    )
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
        if _unquote(m.group("col")).lower() not in flagged:
            return m.group(0)
        return " " if not m.group("lead") else ""

    return _CHECK_RE.sub(drop_check, sql)


def sqlite_plan_sql(
    *,
    quote: Quote,
    table: str,
    create_sql: str,
    column_names: Sequence[str],
    columns: Sequence[LimitedColumn],
    objects: Sequence[SqliteObject],
    backup_table: str,
    add_columns: Sequence[str] = (),
    mixed: Sequence[MixedCheck] = (),
) -> FixPlan:
    """The SQLite Migration 050: SQLite cannot change a column's type in place, so the
    table is rebuilt (the documented 12-step ALTER procedure) in one transaction:
    create the new table, copy every row, drop the old, rename, recreate indexes,
    triggers and views. Views and triggers are dropped first so that the rename does
    not trip over references to a table that is momentarily gone."""
    t = quote(table)
    new = quote(SQLITE_NEW_TABLE)
    cols = ", ".join(quote(c) for c in column_names)
    views = [o for o in objects if o.type == "view"]
    triggers = [o for o in objects if o.type == "trigger"]
    indexes = [o for o in objects if o.type == "index" and o.table == table]
    before: list[str] = [f"DROP VIEW IF EXISTS {quote(v.name)}" for v in reversed(views)]
    before += [f"DROP TRIGGER IF EXISTS {quote(tr.name)}" for tr in triggers]
    before += [
        f"DROP TABLE IF EXISTS {new}",
        rewrite_sqlite_create(create_sql, new_name=SQLITE_NEW_TABLE, quote=quote, columns=columns),
        f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {t}",
        f"DROP TABLE {t}",
        f"ALTER TABLE {new} RENAME TO {t}",
    ]
    after = [o.sql for o in indexes] + [o.sql for o in triggers] + [o.sql for o in views]
    after += [f"ALTER TABLE {t} ADD COLUMN {quote(c)} TEXT" for c in add_columns]
    return FixPlan(
        dialect="sqlite",
        backup_table=backup_table,
        # The original CREATE statement under the backup's name keeps the declared
        # types, key and constraints, so rolling back is a rename.
        backup=(
            rewrite_sqlite_create(create_sql, new_name=backup_table, quote=quote, columns=()),
            f"INSERT INTO {quote(backup_table)} SELECT * FROM {t}",
        ),
        before=tuple(before),
        alters=(),
        after=tuple(after),
        dependents=tuple(v.name for v in views),
        kept=tuple(mixed),
    )


def render_script(plan: FixPlan, *, lock_timeout_ms: int = 2000, header: str = "") -> str:
    """The plan as one SQL script an operator can read, review and run by hand."""
    lines = ["-- Migration 050: convert length-limited columns of buyers to TEXT"]
    if header:
        lines += [f"-- {h}" for h in header.splitlines()]
    lines += [f"-- note: {n}" for n in plan.notes]
    for m in plan.kept:
        lines += [
            f"-- NOT dropped: constraint {m.name or '(unnamed)'} on "
            f"{', '.join(m.columns)}: {m.definition}",
            f"--   why: {m.reason}",
            f"--   what to do: {m.what_to_do}",
        ]
    lines += ["", "-- 1. back up the table (roll back: see docs/migration-050.md)"]
    lines += [f"{s};" for s in plan.backup]
    if plan.dialect == "sqlite":
        lines += ["", "PRAGMA foreign_keys = OFF;", "BEGIN IMMEDIATE;"]
    else:
        lines += [
            "",
            "BEGIN;",
            "-- give up quickly instead of queueing behind long readers (retry later)",
            f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms';",
        ]
    if plan.before:
        lines += ["-- 2. set aside what depends on the table"]
        lines += [f"{s};" for s in plan.before]
    if plan.drop_checks:
        lines += ["-- 2b. drop the CHECK constraints that do nothing but limit a length (for good)"]
        lines += [f"{s};" for s in plan.drop_checks]
    if plan.alters:
        lines += ["-- 3. convert (varchar/char → text does not rewrite the table)"]
        lines += [f"{s};" for _, s in plan.alters]
    if plan.after:
        lines += ["-- 4. restore dependents, their grants, comments and indexes"]
        lines += [f"{s};" for s in plan.after]
    lines += ["COMMIT;"]
    if plan.dialect == "sqlite":
        lines += ["PRAGMA foreign_keys = ON;"]
    lines += ["", "-- afterwards: buyersync schema check (exit 0 when nothing is limited any more)"]
    return "\n".join(lines) + "\n"


__all__ = [
    "FIX_COMMAND",
    "Dependent",
    "FixPlan",
    "Grant",
    "LimitSource",
    "LimitedColumn",
    "MixedCheck",
    "mixed_check",
    "parse_pg_check",
    "sqlite_mixed_checks",
    "Overflow",
    "OverflowRow",
    "SqliteObject",
    "TypeInfo",
    "TypeKind",
    "backup_table_name",
    "classify_type",
    "enforced_limits",
    "limited_columns",
    "parse_length_checks",
    "postgres_plan_sql",
    "quote_literal",
    "render_script",
    "rewrite_sqlite_create",
    "row_overflows",
    "sqlite_plan_sql",
    "would_fail",
]
