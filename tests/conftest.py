"""Shared fixtures: fresh SQLite files and fresh PostgreSQL databases.

PostgreSQL tests use ``BUYERSYNC_TEST_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) to create a database per test
module and drop it afterwards. Without a server they skip with the reason, except
under CI (``CI=true``), where a missing server fails the run: there the
PostgreSQL tests must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from buyersync.store import open_database
from buyersync.store.db import Database

PG_ADMIN_URL = os.environ.get(
    "BUYERSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
#: Real spreadsheets nobody on the project wrote; they live in ``shared/realdata``
#: beside the checkout (see its SOURCES.md).
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"


_PG_PROBLEM: str | None = _pg_available()

# Under mutmut (which runs the suite from its own copy of the tree, traced) timing is
# meaningless and a mutant must be judged on the same examples every time.
hypothesis_settings.register_profile("mutation", deadline=None, derandomize=True)
if "MUTANT_UNDER_TEST" in os.environ or Path(__file__).resolve().parents[1].name == "mutants":
    hypothesis_settings.load_profile("mutation")


def _admin_url_for(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL server (skips or fails if none)."""
    if _PG_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"{_PG_PROBLEM} (PostgreSQL tests must run in CI)")
        pytest.skip(_PG_PROBLEM)
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"buyersync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = create_pg_database(pg_server)
    try:
        yield _admin_url_for(name)
    finally:
        drop_pg_database(pg_server, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'buyers.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'buyers.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An open :class:`Database` on a fresh SQLite file and a fresh PostgreSQL database."""
    database = open_database(db_url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.exists():
        pytest.skip("the shared real-data folder is not beside this checkout")
    return REALDATA.resolve()
