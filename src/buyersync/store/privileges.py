"""What the connected user may do to the schema, asked without changing anything.

``buyersync doctor`` wants to know, before a sync or ``schema fix --apply`` fails
half-way, whether the tool can create its tables and alter ``buyers``. PostgreSQL
answers from its catalog (schema privileges, table ownership); for SQLite the answer
is whether the file and its folder are writable by this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from buyersync.store.db import Database


@dataclass(frozen=True)
class Answer:
    """Whether something is allowed; ``reason`` says why not (and ``fix`` what helps)."""

    allowed: bool
    reason: str = ""
    fix: str = ""


def can_create_tables(db: Database) -> Answer:
    """Whether the tool's tables (and ``buyers``) can be created in the default schema."""
    if db.sql.has_privilege_catalog:
        row = db.query_one(
            "SELECT current_user AS who, current_schema() AS schema, "
            "CASE WHEN current_schema() IS NULL THEN false "
            "ELSE has_schema_privilege(current_schema(), 'CREATE') END AS ok"
        )
        assert row is not None
        if row["schema"] is None:
            return Answer(
                False,
                f"user {row['who']} has no schema to create tables in (search_path is empty "
                "or names no existing schema)",
                "set the user's search_path to a schema it may create tables in",
            )
        if row["ok"]:
            return Answer(True)
        return Answer(
            False,
            f"user {row['who']} may not create tables in schema {row['schema']}",
            f'GRANT CREATE ON SCHEMA "{row["schema"]}" TO "{row["who"]}"; or run '
            "buyersync migrate once as the schema's owner",
        )
    return _sqlite_writable(db)


def can_alter_buyers(db: Database) -> Answer:
    """Whether ``buyers`` can be altered (``schema fix --apply``): PostgreSQL lets only
    its owner (a member of the owning role) or a superuser do it."""
    if db.sql.has_privilege_catalog:
        row = db.query_one(
            "SELECT current_user AS who, pg_get_userbyid(c.relowner) AS owner, "
            "pg_has_role(current_user, c.relowner, 'USAGE') AS member, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super "
            "FROM pg_class c WHERE c.oid = to_regclass('buyers')"
        )
        if row is None:
            return Answer(False, "there is no buyers table")
        if row["member"] or row["super"]:
            return Answer(True)
        return Answer(
            False,
            f"buyers is owned by {row['owner']}, and user {row['who']} is neither that role "
            "(nor a member of it) nor a superuser, so ALTER TABLE is refused",
            f'as {row["owner"]} or a superuser: ALTER TABLE buyers OWNER TO "{row["who"]}" '
            f'(or GRANT "{row["owner"]}" TO "{row["who"]}")',
        )
    return _sqlite_writable(db)


def _sqlite_writable(db: Database) -> Answer:
    path = getattr(db, "path", ":memory:")
    if path == ":memory:":
        return Answer(True)
    file = Path(path)
    folder = file.parent
    if file.exists() and not os.access(file, os.W_OK):
        return Answer(
            False,
            f"the database file {file} is not writable by this user",
            f"give this user write permission on {file} (chmod/chown)",
        )
    # SQLite writes a journal (and the lock file) beside the database file.
    if not os.access(folder, os.W_OK | os.X_OK):
        return Answer(
            False,
            f"the folder {folder} is not writable, so SQLite cannot write its journal there",
            f"give this user write permission on {folder}, or move the database file",
        )
    return Answer(True)


__all__ = ["Answer", "can_alter_buyers", "can_create_tables"]
