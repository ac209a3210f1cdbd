"""Versioned, idempotent creation of buyersync's own tables.

Each step runs once, in a transaction, and is recorded in ``buyersync_schema_version``.
Steps only ever add: they never change the type of an existing column, and they never
touch ``buyers`` (see :mod:`buyersync.store.buyers` for that table).
To add a step, append to :data:`STEPS` with a new version number; never edit a
released one. Steps are applied in list order, and a step missing from a database
is applied even when a higher version is already there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from buyersync.store.db import Database, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    version: int
    name: str
    sql: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step(
        1,
        "sync_runs",
        (
            """
        CREATE TABLE IF NOT EXISTS sync_runs (
            run_id text PRIMARY KEY,
            operation text NOT NULL,            -- sync | sync-missing | retry
            status text NOT NULL,               -- see buyersync.records.RunStatus
            started_at {ts} NOT NULL,
            finished_at {ts},
            source text,                        -- description of the sheet, never a secret
            rows_read integer NOT NULL DEFAULT 0,
            inserted integer NOT NULL DEFAULT 0,
            updated integer NOT NULL DEFAULT 0,
            failed integer NOT NULL DEFAULT 0,
            skipped_blank integer NOT NULL DEFAULT 0,
            queued_for_retry integer NOT NULL DEFAULT 0,
            duration_s {float},
            rows_per_s {float},
            batch_size integer,
            batches integer NOT NULL DEFAULT 0,
            pid integer,
            host text,
            message text
        )
        """,
            "CREATE INDEX IF NOT EXISTS sync_runs_started_idx ON sync_runs (started_at)",
            "CREATE INDEX IF NOT EXISTS sync_runs_status_idx ON sync_runs (status, started_at)",
        ),
    ),
    Step(
        2,
        "sync_error_log",
        (
            """
        CREATE TABLE IF NOT EXISTS sync_error_log (
            id {id},
            run_id text,
            buyer_number text,
            row_number integer,
            error_type text NOT NULL,           -- buyersync.errors.ErrorCategory
            error_message text NOT NULL,
            details {json},
            operation text NOT NULL DEFAULT 'sync',
            retryable {bool} NOT NULL,
            created_at {ts} NOT NULL
        )
        """,
            "CREATE INDEX IF NOT EXISTS sync_error_log_type_idx ON sync_error_log (error_type, created_at)",
            "CREATE INDEX IF NOT EXISTS sync_error_log_buyer_idx ON sync_error_log (buyer_number)",
            "CREATE INDEX IF NOT EXISTS sync_error_log_run_idx ON sync_error_log (run_id)",
            "CREATE INDEX IF NOT EXISTS sync_error_log_created_idx ON sync_error_log (created_at)",
        ),
    ),
    Step(
        3,
        "retry_queue",
        (
            """
        CREATE TABLE IF NOT EXISTS retry_queue (
            id {id},
            buyer_number text NOT NULL UNIQUE,
            row_number integer,
            status text NOT NULL,               -- pending | processing | permanently_failed
            attempt_count integer NOT NULL DEFAULT 0,
            max_attempts integer NOT NULL,
            next_retry_at {ts} NOT NULL,
            error_type text NOT NULL,
            last_error text,
            error_info {json},
            run_id text,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL
        )
        """,
            "CREATE INDEX IF NOT EXISTS retry_queue_due_idx ON retry_queue (status, next_retry_at)",
        ),
    ),
    Step(
        4,
        "sync_health_metrics",
        (
            """
        CREATE TABLE IF NOT EXISTS sync_health_metrics (
            id {id},
            check_time {ts} NOT NULL,
            spreadsheet_count integer,
            database_count integer,
            missing_count integer,
            extra_count integer,
            error_rate {float},
            retry_queue_depth integer,
            permanent_failures integer,
            minutes_since_last_success {float},
            healthy {bool} NOT NULL,
            alerts {json},
            details {json}
        )
        """,
            "CREATE INDEX IF NOT EXISTS sync_health_metrics_time_idx ON sync_health_metrics (check_time)",
        ),
    ),
    Step(
        5,
        "alert_state",
        (
            """
        CREATE TABLE IF NOT EXISTS alert_state (
            condition text PRIMARY KEY,         -- e.g. missing_buyers, error_rate, stale_sync
            active {bool} NOT NULL,
            first_seen_at {ts},
            last_sent_at {ts},
            last_message text
        )
        """,
        ),
    ),
    Step(
        10,
        "retry_queue_lease",
        (
            # A claimed entry carries its worker and a lease: when a worker dies mid-attempt
            # the lease runs out and another worker may take the entry again.
            "ALTER TABLE retry_queue ADD COLUMN claimed_by text",
            "ALTER TABLE retry_queue ADD COLUMN lease_expires_at {ts}",
        ),
    ),
    Step(
        11,
        "retry_attempts",
        (
            """
        CREATE TABLE IF NOT EXISTS retry_attempts (
            id {id},
            buyer_number text NOT NULL,
            attempt integer NOT NULL,           -- 1 = first retry; the failing sync was 0
            outcome text NOT NULL,              -- buyersync.rules.backoff.Verdict
            manual {bool} NOT NULL,             -- retried by hand (retry --buyer/--permanent)
            run_id text,                        -- the retry's sync_runs.run_id
            worker text,                        -- pid@host of the retrying process
            error_type text,
            message text,
            next_retry_at {ts},
            created_at {ts} NOT NULL
        )
        """,
            "CREATE INDEX IF NOT EXISTS retry_attempts_buyer_idx ON retry_attempts (buyer_number, created_at)",
            "CREATE INDEX IF NOT EXISTS retry_attempts_created_idx ON retry_attempts (created_at)",
        ),
    ),
    Step(
        30,
        "sync_outcomes",
        (
            """
        CREATE TABLE IF NOT EXISTS sync_outcomes (
            id {id},
            run_id text,                        -- the sync-missing run (sync_runs.run_id)
            buyer_number text NOT NULL,
            row_number integer,
            outcome text NOT NULL,              -- buyersync.store.outcomes.Outcome
            error_type text,                    -- ErrorCategory when failed
            message text,
            created_at {ts} NOT NULL
        )
        """,
            "CREATE INDEX IF NOT EXISTS sync_outcomes_run_idx ON sync_outcomes (run_id)",
            "CREATE INDEX IF NOT EXISTS sync_outcomes_buyer_idx ON sync_outcomes (buyer_number, created_at)",
        ),
    ),
    Step(
        40,
        "problems",
        (
            # What is wrong now: one row per failing buyer (or sheet row without a key, or
            # run), opened by a failure and resolved by a later write; the error log stays
            # the history, each entry pointing at its problem by subject.
            """
        CREATE TABLE IF NOT EXISTS problems (
            id {id},
            subject text NOT NULL UNIQUE,       -- buyer:<number> | row:<n> | run:<operation>
            kind text NOT NULL,                 -- buyer | row | run
            buyer_number text,
            row_number integer,
            category text NOT NULL,             -- buyersync.errors.ErrorCategory
            column_name text,
            message text NOT NULL,
            example text,
            operation text NOT NULL,
            first_run_id text,
            last_run_id text,
            opened_at {ts} NOT NULL,
            last_seen_at {ts} NOT NULL,
            occurrences integer NOT NULL DEFAULT 1,
            not_written integer NOT NULL DEFAULT 0,
            resolved_at {ts},
            resolved_by_run text,
            acknowledged_at {ts},
            acknowledged_note text
        )
        """,
            "CREATE INDEX IF NOT EXISTS problems_open_idx ON problems (resolved_at, category)",
            "CREATE INDEX IF NOT EXISTS problems_run_idx ON problems (last_run_id)",
            "ALTER TABLE sync_error_log ADD COLUMN subject text",
            "ALTER TABLE sync_error_log ADD COLUMN resolved_at {ts}",
            "ALTER TABLE sync_error_log ADD COLUMN resolved_by_run text",
            "CREATE INDEX IF NOT EXISTS sync_error_log_subject_idx ON sync_error_log (subject)",
            # Entries logged before this step name their buyer (or row) the same way.
            "UPDATE sync_error_log SET subject = 'buyer:' || buyer_number "
            "WHERE buyer_number IS NOT NULL AND error_type <> 'duplicate_key'",
            "UPDATE sync_error_log SET subject = 'row:' || CAST(row_number AS text) "
            "WHERE subject IS NULL AND row_number IS NOT NULL",
            "ALTER TABLE sync_runs ADD COLUMN not_written integer NOT NULL DEFAULT 0",
        ),
    ),
    Step(
        41,
        "sync_runs_change_counts",
        (
            # of the updated rows, those whose stored values changed and those rewritten
            # as they were; runs recorded before this step count neither (0)
            "ALTER TABLE sync_runs ADD COLUMN changed integer NOT NULL DEFAULT 0",
            "ALTER TABLE sync_runs ADD COLUMN unchanged integer NOT NULL DEFAULT 0",
        ),
    ),
    Step(
        42,
        "sync_run_headers",
        (
            # The header map each run read: the baseline of the header contract
            # (buyersync.rules.headers) is the map of the last successful full sync.
            """
        CREATE TABLE IF NOT EXISTS sync_run_headers (
            run_id text NOT NULL,               -- sync_runs.run_id
            position integer NOT NULL,          -- 0-based sheet column
            header text NOT NULL,               -- as written in the sheet
            column_name text,                   -- the buyers column it maps to
            fed {bool} NOT NULL,                -- buyers took its values
            PRIMARY KEY (run_id, position)
        )
        """,
            """
        CREATE TABLE IF NOT EXISTS header_changes (
            id {id},
            run_id text NOT NULL,               -- the sync that accepted the change
            source text,
            change {json} NOT NULL,             -- buyersync.rules.headers.HeaderDiff.to_json
            accepted_at {ts} NOT NULL,
            accepted_by text                    -- user@host of the accepting process
        )
        """,
            "CREATE INDEX IF NOT EXISTS header_changes_run_idx ON header_changes (run_id)",
        ),
    ),
    Step(
        44,
        "job_turns",
        (
            # One row per scheduled job and interval: the replica that inserts it runs
            # that turn, every other replica skips it (buyersync.store.turns).
            """
        CREATE TABLE IF NOT EXISTS job_turns (
            job text NOT NULL,                  -- sync | retry | health | verify
            turn_start {ts} NOT NULL,           -- the interval's start on the clock grid
            interval_seconds {float} NOT NULL,
            claimed_at {ts} NOT NULL,
            host text,                          -- the replica that claimed it
            pid integer,
            outcome text,                       -- buyersync.store.turns.Outcome
            finished_at {ts},
            PRIMARY KEY (job, turn_start)
        )
        """,
        ),
    ),
    Step(
        46,
        "alert_deliveries",
        (
            # What happened to every alert: sent (to which channels), failed, not sent
            # (no channel, --no-alerts) or suppressed by the cooldown.
            """
        CREATE TABLE IF NOT EXISTS alert_deliveries (
            id {id},
            created_at {ts} NOT NULL,
            origin text NOT NULL,               -- health | sync
            condition text NOT NULL,            -- buyersync.rules.alerts.Condition
            title text NOT NULL,
            status text NOT NULL,               -- buyersync.rules.delivery.DeliveryStatus
            message text NOT NULL,              -- e.g. "sent to e-mail, webhook"
            channels {json},                    -- the channels that accepted it
            failures {json},                    -- channel and error of each that did not
            until_at {ts},                      -- end of the cooldown, when suppressed
            health_check_id integer             -- sync_health_metrics.id, for a check
        )
        """,
            "CREATE INDEX IF NOT EXISTS alert_deliveries_time_idx ON alert_deliveries (created_at)",
            "CREATE INDEX IF NOT EXISTS alert_deliveries_condition_idx "
            "ON alert_deliveries (condition, created_at)",
        ),
    ),
    Step(
        47,
        "sheet_tabs",
        (
            # Where a source's cells are: for a Google Sheet the numeric sheetId (#gid=)
            # of the tab read, and the first column of a named range; links to cells
            # are built from it.
            """
        CREATE TABLE IF NOT EXISTS sheet_tabs (
            source text PRIMARY KEY,            -- sync_runs.source
            gid integer,
            title text,
            first_column integer NOT NULL DEFAULT 0,
            seen_at {ts} NOT NULL
        )
        """,
        ),
    ),
    Step(
        60,
        "sheet_feedback",
        (
            # What the last write-backs to the sheet did (docs/sheet-feedback.md); a
            # failed write-back is recorded here, never as a failed sync.
            """
        CREATE TABLE IF NOT EXISTS sheet_feedback_runs (
            id {id},
            run_id text,                        -- the sync the feedback followed
            mode text NOT NULL,                 -- notes | tab | clear
            at {ts} NOT NULL,
            notes_written integer NOT NULL DEFAULT 0,
            notes_removed integer NOT NULL DEFAULT 0,
            notes_kept integer NOT NULL DEFAULT 0,
            person_notes integer NOT NULL DEFAULT 0,
            capped integer NOT NULL DEFAULT 0,
            tab_rows integer NOT NULL DEFAULT 0,
            requests integer NOT NULL DEFAULT 0,
            error text
        )
        """,
            # One row per gate: POST /api/sync claims it with one conditional UPDATE, so
            # the rate limit holds across every serve replica sharing the database.
            """
        CREATE TABLE IF NOT EXISTS api_sync_gate (
            name text PRIMARY KEY,
            last_at {ts}
        )
        """,
        ),
    ),
)

LATEST = max(step.version for step in STEPS)


def pending(db: Database) -> list[Step]:
    """Steps not yet applied to this database."""
    if not db.table_exists("buyersync_schema_version"):
        return list(STEPS)
    done = {int(r["version"]) for r in db.query("SELECT version FROM buyersync_schema_version")}
    return [step for step in STEPS if step.version not in done]


def current_version(db: Database) -> int:
    if not db.table_exists("buyersync_schema_version"):
        return 0
    return int(
        db.query_value("SELECT coalesce(max(version), 0) AS v FROM buyersync_schema_version")
    )


def migrate(db: Database) -> list[str]:
    """Apply every step not yet applied; return the names of those applied.

    Safe to run concurrently: the steps run under the ``migrate`` lock.
    """
    # the DDL templates below name their types {ts}, {json} …: each dialect spells them
    types = db.sql.column_types
    applied: list[str] = []
    with db.lock("migrate", wait_seconds=60):
        db.execute(
            f"""CREATE TABLE IF NOT EXISTS buyersync_schema_version (
                version integer PRIMARY KEY, name text NOT NULL, applied_at {types["ts"]} NOT NULL)"""
        )
        done = {int(r["version"]) for r in db.query("SELECT version FROM buyersync_schema_version")}
        for step in STEPS:
            if step.version in done:
                continue
            with db.transaction():
                for statement in step.sql:
                    db.execute(statement.format(**types))
                db.execute(
                    "INSERT INTO buyersync_schema_version (version, name, applied_at) "
                    "VALUES (%s, %s, %s)",
                    (step.version, step.name, db.ts(utcnow())),
                )
            log.info("applied migration %03d %s", step.version, step.name)
            applied.append(f"{step.version:03d}_{step.name}")
    return applied


def ensure_schema(db: Database) -> None:
    """Create or upgrade buyersync's own tables when they are behind (idempotent)."""
    if pending(db):
        migrate(db)
