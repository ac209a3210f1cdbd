"""What buyersync is measured against, each run as its own process by run.py.

* ``ceiling``  — Python reads the CSV and COPYs it into a plain TEXT table
  (PostgreSQL) or ``executemany``s it into one transaction (SQLite): the fastest a
  Python loader can be, with no checks, no upsert, no logging.
* ``resync``   — the re-sync ceiling: COPY the whole sheet into a staging table,
  then one ``UPDATE … FROM`` rewriting every row of a keyed table (``synced_at``
  advances on every sync, so a re-sync rewrites every row: this is its floor). On
  SQLite, ``executemany`` into a temporary table and the same ``UPDATE … FROM``. The
  keyed table is loaded first by ``resync-setup`` (a separate, untimed process).
* ``naive``    — what an operator writes by hand: one ``INSERT … ON CONFLICT`` per row,
  each row its own transaction so that one bad row does not stop the rest.
* ``dlt``      — dlt loading the same CSV with ``write_disposition="merge"`` on
  buyer_number (run with the interpreter of ``benchmarks/.venv-dlt``).

Usage: ``python benchmarks/baselines.py {ceiling,resync-setup,resync,naive,dlt} CSV DATABASE_URL``
"""

from __future__ import annotations

import csv
import sqlite3
import sys


def _sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def ceiling(path: str, url: str) -> None:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = ", ".join(f'"{h}"' for h in header)
        if url.startswith("sqlite:"):
            conn = sqlite3.connect(_sqlite_path(url))
            conn.execute(f"CREATE TABLE ceiling ({', '.join(f'{c} text' for c in header)})")
            marks = ", ".join("?" * len(header))
            with conn:
                conn.executemany(f"INSERT INTO ceiling ({cols}) VALUES ({marks})", reader)
            conn.close()
            return
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE ceiling ({', '.join(f'{c} text' for c in header)})")
            with conn.cursor() as cur, cur.copy(f"COPY ceiling ({cols}) FROM STDIN") as copy:
                for row in reader:
                    copy.write_row(row)


def _keyed_ddl(header: list[str], ts: str) -> str:
    return (
        "CREATE TABLE target (buyer_number text PRIMARY KEY, "
        + ", ".join(f'"{h}" text' for h in header[1:])
        + f", synced_at {ts})"
    )


def resync_setup(path: str, url: str) -> None:
    """The keyed table a re-sync rewrites, loaded with the sheet (not timed)."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = ", ".join(f'"{h}"' for h in header)
        if url.startswith("sqlite:"):
            conn = sqlite3.connect(_sqlite_path(url))
            conn.execute(_keyed_ddl(header, "text"))
            marks = ", ".join("?" * len(header))
            with conn:
                conn.executemany(f"INSERT INTO target ({cols}) VALUES ({marks})", reader)
            conn.close()
            return
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(_keyed_ddl(header, "timestamptz"))
            with conn.cursor() as cur, cur.copy(f"COPY target ({cols}) FROM STDIN") as copy:
                for row in reader:
                    copy.write_row(row)
            conn.execute("VACUUM ANALYZE target")


def resync(path: str, url: str) -> None:
    """Stage the whole sheet, then rewrite every row of ``target`` in one statement."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = ", ".join(f'"{h}"' for h in header)
        sets = ", ".join(f'"{h}" = s."{h}"' for h in header[1:])
        update = (
            f"UPDATE target AS t SET {sets}, synced_at = %s FROM stage AS s "
            "WHERE t.buyer_number = s.buyer_number"
        )
        stage_ddl = (
            f"CREATE TEMPORARY TABLE stage ({', '.join(f'{c} text' for c in cols.split(', '))})"
        )
        if url.startswith("sqlite:"):
            conn = sqlite3.connect(_sqlite_path(url))
            marks = ", ".join("?" * len(header))
            with conn:
                conn.execute(stage_ddl)
                conn.executemany(f"INSERT INTO stage ({cols}) VALUES ({marks})", reader)
                conn.execute(update.replace("%s", "datetime('now')"))
            conn.close()
            return
        import psycopg

        with psycopg.connect(url) as conn:
            conn.execute(stage_ddl)
            with conn.cursor() as cur, cur.copy(f"COPY stage ({cols}) FROM STDIN") as copy:
                for row in reader:
                    copy.write_row(row)
            conn.execute(update.replace("%s", "now()"))
            conn.commit()


def naive(path: str, url: str) -> None:
    import psycopg

    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = ", ".join(f'"{h}"' for h in header)
        updates = ", ".join(f'"{h}" = excluded."{h}"' for h in header[1:])
        sql = (
            f"INSERT INTO buyers ({cols}, synced_at) VALUES "
            f"({', '.join(['%s'] * len(header))}, now()) "
            f"ON CONFLICT (buyer_number) DO UPDATE SET {updates}, synced_at = now()"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS buyers (buyer_number text PRIMARY KEY, "
                + ", ".join(f'"{h}" text' for h in header[1:])
                + ", created_at timestamptz NOT NULL DEFAULT now(), synced_at timestamptz)"
            )
            failed = 0
            for row in reader:
                try:
                    conn.execute(sql, row)  # type: ignore[arg-type]
                except psycopg.DataError:
                    failed += 1  # the old sync's habit: skip the row and go on
            if failed:
                print(f"{failed} rows failed", file=sys.stderr)


def dlt_load(path: str, url: str) -> None:
    import os

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if "@" in url and ":" not in url.split("://", 1)[1].split("@", 1)[0]:
        # dlt insists on a password; a trust-auth server ignores whatever is sent.
        os.environ.setdefault("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "trust")
    import dlt  # type: ignore[import-not-found]

    @dlt.resource(
        name="buyers",
        write_disposition="merge",
        primary_key="buyer_number",
        columns={h: {"data_type": "text"} for h in _header(path)},
    )
    def buyers():  # type: ignore[no-untyped-def]
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)

    pipeline = dlt.pipeline(
        pipeline_name="buyersync_bench",
        destination=dlt.destinations.postgres(url),
        dataset_name="bench",
        pipelines_dir=os.environ.get("DLT_PIPELINES_DIR"),
    )
    info = pipeline.run(buyers())
    info.raise_on_failed_jobs()


def _header(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


if __name__ == "__main__":
    kind, csv_path, db_url = sys.argv[1:4]
    {
        "ceiling": ceiling,
        "resync-setup": resync_setup,
        "resync": resync,
        "naive": naive,
        "dlt": dlt_load,
    }[kind](csv_path, db_url)
