"""Pure schema rules, and property 1 over generated schemas on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.records import SheetRow
from buyersync.rules import schema as rules
from buyersync.rules.normalize import map_headers
from buyersync.services.schema import SchemaValidator
from buyersync.store import catalog, open_database


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# (declared type on PostgreSQL, declared type on SQLite, limit or None)
LIMITED = st.integers(1, 500).flatmap(
    lambda n: st.sampled_from(
        [
            (f"varchar({n})", f"VARCHAR({n})", n),
            (f"character varying({n})", f"character varying ( {n} )", n),
            (f"char({n})", f"CHAR({n})", n),
            (f"character({n})", f"NCHAR({n})", n),
        ]
    )
)
UNLIMITED = st.sampled_from(
    [
        ("text", "TEXT", None),
        ("varchar", "VARCHAR", None),
        ("integer", "INTEGER", None),
        ("numeric(10,2)", "NUMERIC(10,2)", None),
        ("timestamptz", "TIMESTAMP", None),
        ("timestamp", "DATETIME", None),
        ("boolean", "BOOLEAN", None),
        ("bigint", "BIGINT", None),
        ("date", "DATE", None),
        ("jsonb", "JSON", None),
        ("varchar(20)[]", "BLOB", None),
    ]
)
SCHEMAS = st.lists(st.one_of(LIMITED, UNLIMITED), min_size=1, max_size=8)


def test_classify_known_spellings() -> None:
    assert rules.classify_type("character varying(50)") == rules.TypeInfo(
        rules.TypeKind.LIMITED, 50
    )
    assert rules.classify_type("character(8)").limit == 8
    assert rules.classify_type("national  character varying (50)").limit == 50
    assert rules.classify_type("NVARCHAR(100)").limit == 100
    for text in ("text", "TEXT", "character varying", "varchar", "CLOB", "bpchar"):
        assert rules.classify_type(text).kind is rules.TypeKind.TEXT, text
    for other in (
        "integer",
        "numeric(10,2)",
        "timestamp with time zone",
        '"char"',
        "character varying(50)[]",
        "jsonb",
        "",
    ):
        assert rules.classify_type(other).kind is rules.TypeKind.OTHER, other


@given(SCHEMAS)
def test_property_1_pure(schema: list[tuple[str, str, int | None]]) -> None:
    """Every VARCHAR(n)/CHAR(n) column is reported with its n; nothing else is."""
    cols = {f"c{i}": pg for i, (pg, _, _) in enumerate(schema)}
    found = rules.limited_columns(cols, dialect=catalog.POSTGRESQL)
    expected = {f"c{i}": n for i, (_, _, n) in enumerate(schema) if n is not None}
    assert {c.column: c.limit for c in found} == expected
    assert all(c.enforced for c in found)


@given(
    st.lists(
        st.tuples(st.one_of(LIMITED, UNLIMITED), st.none() | st.integers(1, 300)),
        min_size=1,
        max_size=6,
    )
)
def test_sqlite_checks_are_the_enforced_limits(schema: list) -> None:
    cols = {f"c{i}": lite for i, ((_, lite, _), _) in enumerate(schema)}
    checks = {f"c{i}": n for i, (_, n) in enumerate(schema) if n is not None}
    found = {
        c.column: c for c in rules.limited_columns(cols, dialect=catalog.SQLITE, checks=checks)
    }
    for i, ((_, _, declared), check) in enumerate(schema):
        name = f"c{i}"
        if declared is None and check is None:
            assert name not in found
        else:
            assert found[name].enforced is (check is not None)
            assert found[name].limit == (check if check is not None else declared)
    enforced = rules.enforced_limits(found.values(), catalog.SQLITE)
    assert {c: lim.limit for c, lim in enforced.items()} == checks
    # SQLite enforces no declared width: only the CHECK bounds a value
    assert all(lim.type_limit is None for lim in enforced.values())


def test_parse_length_checks_spellings() -> None:
    sql = (
        'CREATE TABLE buyers (a TEXT CHECK (length(a) <= 5), "B c" TEXT, d TEXT, '
        "CONSTRAINT x CHECK(LENGTH(\"B c\")<41), CHECK (length(d) <= 3 AND d <> ''), "
        "CHECK ((length(`a`) <= 4)))"
    )
    assert rules.parse_length_checks(sql, ["a", "B c", "d"]) == {"a": 4, "B c": 40}


def test_would_fail_names_row_column_limit_length() -> None:
    colmap = map_headers(["Buyer Number", "Name", "Notes"], key_header="Buyer Number")
    rows = [
        SheetRow(2, ("B1", "ok", "")),
        SheetRow(3, ("", "", "")),
        SheetRow(4, ("B2", "x" * 51, "y" * 9)),
        SheetRow(5, (" B3 ", "fine", "z" * 8)),
    ]
    out = list(rules.would_fail(rows, colmap, {"name": 50, "notes": 8, "buyer_number": 20}))
    assert [r.row_number for r in out] == [4]
    assert out[0].buyer_number == "B2"
    assert out[0].overflows == (rules.Overflow("name", 50, 51), rules.Overflow("notes", 8, 9))


@given(st.lists(st.text(max_size=12), min_size=1, max_size=30), st.integers(0, 10))
def test_would_fail_is_exactly_the_overlong_rows(values: list[str], limit: int) -> None:
    colmap = map_headers(["buyer_number", "name"])
    rows = [SheetRow(i + 2, (f"K{i}", v)) for i, v in enumerate(values)]
    got = {r.row_number for r in rules.would_fail(rows, colmap, {"name": limit})}
    assert got == {i + 2 for i, v in enumerate(values) if len(v) > limit}


def test_backup_name_is_dated_and_unique() -> None:
    now = datetime(2025, 3, 4, 5, 6, 7)
    assert rules.backup_table_name(now, []) == "buyers_backup_20250304"
    assert (
        rules.backup_table_name(now, ["buyers_backup_20250304"]) == "buyers_backup_20250304_050607"
    )
    assert (
        rules.backup_table_name(now, ["buyers_backup_20250304", "buyers_backup_20250304_050607"])
        == "buyers_backup_20250304_050607_2"
    )


def test_postgres_script_orders_dependents() -> None:
    cols = rules.limited_columns({"name": "character varying(50)"}, dialect=catalog.POSTGRESQL)
    deps = [
        rules.Dependent("public", "v2", False, " SELECT name FROM v1;", depth=2),
        rules.Dependent(
            "public",
            "mv",
            True,
            "SELECT name FROM buyers",
            depth=1,
            grants=(rules.Grant(None, "SELECT"),),
            indexes=("CREATE INDEX i ON mv (name)",),
        ),
    ]
    plan = rules.postgres_plan_sql(
        quote=q, table="buyers", columns=cols, dependents=deps, backup_table="buyers_backup_x"
    )
    script = rules.render_script(plan, lock_timeout_ms=1500)
    order = [
        script.index(s)
        for s in (
            'DROP VIEW "public"."v2"',
            "DROP MATERIALIZED VIEW",
            'ALTER COLUMN "name" TYPE text',
            "CREATE MATERIALIZED VIEW",
            "CREATE INDEX i",
            'GRANT SELECT ON "public"."mv" TO PUBLIC',
            'CREATE VIEW "public"."v2"',
        )
    ]
    assert order == sorted(order)
    assert script.index(
        'CREATE TABLE "buyers_backup_x" (LIKE "buyers" INCLUDING ALL)'
    ) < script.index("BEGIN")
    assert script.index(
        'INSERT INTO "buyers_backup_x" OVERRIDING SYSTEM VALUE SELECT'
    ) < script.index("BEGIN")
    assert "lock_timeout = '1500ms'" in script


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            st.one_of(LIMITED, UNLIMITED),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_sqlite_rewrite_leaves_nothing_limited(cols: list) -> None:
    defs = []
    for name, (_, lite, _), checked in cols:
        extra = f" CHECK (length({name}) <= 7)" if checked else ""
        defs.append(f"{q(name)} {lite}{extra}")
    create = f"CREATE TABLE buyers ({', '.join(defs)}, CHECK (1 = 1), CHECK (length(x) <= 3))"
    declared = {name: lite for name, (_, lite, _), _ in cols}
    limited = rules.limited_columns(
        declared, dialect=catalog.SQLITE, checks=rules.parse_length_checks(create, declared)
    )
    new = rules.rewrite_sqlite_create(create, new_name="t2", quote=q, columns=limited)
    assert new.startswith('CREATE TABLE "t2"')
    assert "CHECK (1 = 1)" in new and new.endswith(")")
    assert new.count("(") == new.count(")")
    assert rules.parse_length_checks(new, declared) == {}
    for c in limited:
        if rules.classify_type(c.type).kind is rules.TypeKind.LIMITED:
            assert not re.search(re.escape(c.type), new), new


# -- property 1 against the live catalog --------------------------------------------------


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_property_1_live_catalog(dialect: str, tmp_path, request) -> None:
    """Random schemas created for real: ``schema check`` (its validator) reports exactly the
    limited ones, each with its limit."""
    url = (
        f"sqlite:///{tmp_path / 'p1.db'}"
        if dialect == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    db = open_database(url)

    @given(SCHEMAS, st.lists(st.booleans(), min_size=8, max_size=8))
    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def check(schema: list, with_check: list[bool]) -> None:
        db.execute("DROP VIEW IF EXISTS v_buyers")
        db.execute("DROP TABLE IF EXISTS buyers")
        defs, expected = ["buyer_number text PRIMARY KEY"], {}
        for i, (pg, lite, n) in enumerate(schema):
            name = f"c{i}_{uuid.uuid4().hex[:3]}"
            if dialect == "postgresql":
                defs.append(f"{q(name)} {pg}")
                if n is not None:
                    expected[name] = n
            else:
                check_n = 5 + i if with_check[i] else None
                extra = f" CHECK (length({q(name)}) <= {check_n})" if check_n else ""
                defs.append(f"{q(name)} {lite}{extra}")
                if n is not None or check_n is not None:
                    expected[name] = check_n if check_n is not None else n
        db.execute(f"CREATE TABLE buyers ({', '.join(defs)})")
        found = SchemaValidator(db).validate_buyers_schema().non_text_fields
        assert {c.column: c.limit for c in found} == expected

    try:
        check()
    finally:
        db.close()
