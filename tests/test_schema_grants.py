"""Migration 050 restores what PostgreSQL forgets when a view is dropped and recreated:
column-level grants and comments (issue 4, gap 3); ALTER … TYPE keeps comments on
``buyers`` itself."""

from __future__ import annotations

import uuid

import pytest

from buyersync.store import catalog, open_database, schemafix
from buyersync.store.db import Database

pytestmark = pytest.mark.postgres

COMMENT = "Buyer's name — as on the contract (C:\\names\\)"


def _setup(db: Database, role: str) -> None:
    r = db.quote(role)
    for statement in (
        "CREATE TABLE buyers (buyer_number varchar(20) PRIMARY KEY, name varchar(50), "
        "notes text, created_at timestamptz, synced_at timestamptz, db_updated_at timestamptz)",
        "INSERT INTO buyers (buyer_number, name) VALUES ('B1', 'Ann'), ('B2', 'Bob')",
        "COMMENT ON COLUMN buyers.name IS 'legal name'",
        "COMMENT ON TABLE buyers IS 'mirror of the sheet'",
        "CREATE VIEW buyer_names AS SELECT buyer_number, name, notes FROM buyers",
        "COMMENT ON VIEW buyer_names IS " + "'" + COMMENT.replace("'", "''") + "'",
        "COMMENT ON COLUMN buyer_names.name IS 'shown on invoices'",
        f"GRANT SELECT (buyer_number, name) ON buyer_names TO {r}",
        f"GRANT UPDATE (notes) ON buyer_names TO {r} WITH GRANT OPTION",
        "CREATE MATERIALIZED VIEW buyer_counts AS SELECT name, count(*) AS n FROM buyers "
        "GROUP BY name",
        "COMMENT ON MATERIALIZED VIEW buyer_counts IS 'refreshed nightly'",
        f"GRANT SELECT (n) ON buyer_counts TO {r}",
    ):
        db.execute(statement)


def _state(db: Database, role: str) -> dict[str, object]:
    return {
        "view_comment": db.query_value(
            "SELECT obj_description('buyer_names'::regclass, 'pg_class') AS c"
        ),
        "mv_comment": db.query_value(
            "SELECT obj_description('buyer_counts'::regclass, 'pg_class') AS c"
        ),
        "view_col_comment": db.query_value(
            "SELECT col_description('buyer_names'::regclass, 2) AS c"
        ),
        "table_comment": db.query_value(
            "SELECT obj_description('buyers'::regclass, 'pg_class') AS c"
        ),
        "table_col_comment": db.query_value("SELECT col_description('buyers'::regclass, 2) AS c"),
        # information_schema leaves materialized views out: read the ACLs themselves
        "column_grants": sorted(
            (r["rel"], r["col"], r["privilege"], r["grantable"])
            for r in db.query(
                "SELECT a.attrelid::regclass::text AS rel, a.attname AS col, "
                "g.privilege_type AS privilege, g.is_grantable AS grantable "
                "FROM pg_attribute a CROSS JOIN LATERAL aclexplode(a.attacl) g "
                "WHERE a.attrelid IN ('buyer_names'::regclass, 'buyer_counts'::regclass) "
                "AND g.grantee = %s::regrole",
                (role,),
            )
        ),
    }


def test_column_grants_and_comments_survive_the_rebuild(pg_url: str) -> None:
    role = f"bs_reader_{uuid.uuid4().hex[:8]}"
    with open_database(pg_url) as db:
        db.execute(f"CREATE ROLE {db.quote(role)}")
        try:
            _setup(db, role)
            before = _state(db, role)
            assert before["view_comment"] == COMMENT and len(before["column_grants"]) == 4
            deps = {d.name: d for d in catalog.pg_dependents(db, ["name"])}
            assert set(deps) == {"buyer_names", "buyer_counts"}

            result = schemafix.apply(db, lock_timeout_s=1, attempts=1)
            assert result.ok, result.to_json()
            assert set(result.dependents) == {"public.buyer_names", "public.buyer_counts"}
            assert _state(db, role) == before
            assert (
                db.query_value(
                    "SELECT data_type FROM information_schema.columns WHERE "
                    "table_name = 'buyer_names' AND column_name = 'name'"
                )
                == "text"
            )
        finally:
            db.execute(f"DROP OWNED BY {db.quote(role)}")
            db.execute(f"DROP ROLE {db.quote(role)}")


def test_printed_script_restores_them_too(pg_url: str) -> None:
    role = f"bs_reader_{uuid.uuid4().hex[:8]}"
    with open_database(pg_url) as db:
        db.execute(f"CREATE ROLE {db.quote(role)}")
        try:
            _setup(db, role)
            plan, _ = schemafix.build_plan(db)
            script = "\n".join(plan.after)
            assert f'GRANT SELECT ("buyer_number") ON "public"."buyer_names" TO "{role}"' in script
            assert (
                f'GRANT UPDATE ("notes") ON "public"."buyer_names" TO "{role}" WITH GRANT OPTION'
            ) in script
            assert (
                'COMMENT ON VIEW "public"."buyer_names" IS '
                "'Buyer''s name — as on the contract (C:\\names\\)'"
            ) in script
            assert 'COMMENT ON MATERIALIZED VIEW "public"."buyer_counts"' in script
            assert 'COMMENT ON COLUMN "public"."buyer_names"."name" IS' in script
        finally:
            db.execute(f"DROP OWNED BY {db.quote(role)}")
            db.execute(f"DROP ROLE {db.quote(role)}")
