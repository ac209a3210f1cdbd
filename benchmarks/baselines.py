"""What buyersync is measured against, each run as its own process by run.py.

* ``ceiling``  — Python reads the CSV and COPYs it into a plain TEXT table
  (PostgreSQL) or ``executemany``s it into one transaction (SQLite): the fastest a
  Python loader can be, with no checks, no upsert, no logging.
* ``naive``    — what an operator writes by hand: one ``INSERT … ON CONFLICT`` per row,
  each row its own transaction so that one bad row does not stop the rest.
* ``dlt``      — dlt loading the same CSV with ``write_disposition="merge"`` on
  buyer_number (run with the interpreter of ``benchmarks/.venv-dlt``).

Usage: ``python benchmarks/baselines.py {ceiling,naive,dlt} CSV DATABASE_URL``
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
    {"ceiling": ceiling, "naive": naive, "dlt": dlt_load}[kind](csv_path, db_url)
