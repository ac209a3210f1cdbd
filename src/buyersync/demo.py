"""The incident and its fix, end to end, on a throwaway database (``buyersync demo``).

What it does, in order:

1. generates a sheet of 4,140 buyers (Japanese and Latin names, addresses, notes;
   seeded, so every run is the same) in which exactly 356 rows have a value longer
   than 50 characters;
2. creates the *legacy* ``buyers`` table the incident happened on: every text column
   ``VARCHAR(50)`` (on SQLite, which does not enforce a declared length, with
   ``CHECK (length(col) <= 50)``, which it does);
3. replays the old sync — insert row by row, drop whatever the database refuses,
   say nothing — which leaves 356 of 4,140 buyers (8.6%) missing;
4. runs the real commands an operator would type, each as its own ``buyersync``
   process: ``schema check``, ``missing``, ``sync`` (every failure logged),
   ``errors``, ``schema fix --apply``, ``sync-missing``, ``problems`` (every problem
   of the sync resolved, without another full sync), ``verify --full`` and ``health``.

The files (sheet, SQLite database, ``buyersync.toml``, verification report) stay in
the demo directory so the user can keep exploring with the same commands.

Steps 2 and 3 speak SQL outside :mod:`buyersync.store` on purpose: they stand in for
the legacy schema and the legacy sync, which buyersync itself would never produce.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buyersync.errors import BuyersyncError, ConfigError, StoreError
from buyersync.settings import redact_url
from buyersync.store import open_database
from buyersync.store.db import Database, utcnow
from buyersync.store.sql import SQL, Composable, Identifier, identifiers

#: The incident's numbers: the demo reproduces them exactly.
TOTAL_BUYERS = 4140
LONG_BUYERS = 356
LIMIT = 50
SEED = 50  # Migration 050

HEADER = ("buyer_number", "name", "email", "phone", "company", "address", "notes")
SHEET_FILE = "buyers.csv"
DB_FILE = "buyersync.db"
CONFIG_FILE = "buyersync.toml"
REPORT_FILE = "verify-report.html"
#: Marks a directory the demo created, so a second run may replace its files.
MARKER_FILE = ".buyersync-demo"

Echo = Callable[[str], None]

# -- the sheet ---------------------------------------------------------------------

_JP_FAMILY = (
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
    ("山本", "yamamoto"),
    ("中村", "nakamura"),
    ("小林", "kobayashi"),
    ("加藤", "kato"),
    ("吉田", "yoshida"),
    ("山田", "yamada"),
    ("佐々木", "sasaki"),
    ("山口", "yamaguchi"),
    ("松本", "matsumoto"),
    ("井上", "inoue"),
    ("木村", "kimura"),
    ("林", "hayashi"),
    ("斎藤", "saito"),
    ("清水", "shimizu"),
)
_JP_GIVEN = (
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("翔太", "shota"),
    ("美咲", "misaki"),
    ("健一", "kenichi"),
    ("陽菜", "hina"),
    ("大輔", "daisuke"),
    ("結衣", "yui"),
    ("拓也", "takuya"),
    ("さくら", "sakura"),
    ("蓮", "ren"),
    ("葵", "aoi"),
    ("直樹", "naoki"),
    ("真由美", "mayumi"),
    ("浩二", "koji"),
    ("恵子", "keiko"),
)
_LATIN_FIRST = (
    "María",
    "José",
    "Ana",
    "Carlos",
    "Lucía",
    "João",
    "Sofía",
    "Mateo",
    "Camila",
    "Diego",
    "Valentina",
    "Miguel",
    "Isabel",
    "Pedro",
    "Gabriela",
    "Luis",
    "Fernanda",
    "Rafael",
    "Beatriz",
    "Andrés",
)
_LATIN_LAST = (
    "García",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Costa",
    "Pereira",
)
_JP_PLACES = (
    ("東京都", "渋谷区", "道玄坂"),
    ("東京都", "新宿区", "西新宿"),
    ("大阪府", "大阪市北区", "梅田"),
    ("神奈川県", "横浜市西区", "みなとみらい"),
    ("愛知県", "名古屋市中村区", "名駅"),
    ("福岡県", "福岡市博多区", "博多駅前"),
    ("北海道", "札幌市中央区", "北一条西"),
    ("京都府", "京都市下京区", "烏丸通"),
)
_JP_BUILDINGS = (
    "サンライズビル",
    "グランドタワー",
    "第二山田ビル",
    "パークサイド館",
    "センタープラザ",
    "みなとビルディング",
)
_LATIN_PLACES = (
    ("Av. Paulista", "São Paulo", "SP", "Brasil"),
    ("Calle de Alcalá", "Madrid", "M", "España"),
    ("Av. Insurgentes Sur", "Ciudad de México", "CDMX", "México"),
    ("Rua Augusta", "São Paulo", "SP", "Brasil"),
    ("Av. Corrientes", "Buenos Aires", "CABA", "Argentina"),
    ("Carrera 7", "Bogotá", "DC", "Colombia"),
)
_LATIN_DISTRICTS = (
    "Bela Vista",
    "Jardim Paulista",
    "Salamanca",
    "Del Valle",
    "San Nicolás",
    "Chapinero",
)
_JP_COMPANIES = (
    "株式会社サンプル商事",
    "山田工業株式会社",
    "有限会社みなと物産",
    "株式会社グリーンフーズ",
    "東和トレーディング株式会社",
)
_LATIN_COMPANIES = (
    "Comercial Andina S.A.",
    "Importadora del Sur Ltda.",
    "Distribuidora Sol",
    "Alimentos Rivera S.A. de C.V.",
    "Grupo Atlântico",
)
_JP_NOTES = (
    "メール連絡希望",
    "月末締め翌月払い",
    "請求書は本社宛て",
    "平日10時〜17時のみ受付",
    "納品は倉庫へ",
    "担当者変更あり",
    "年末は休業",
    "見積もりは2社比較",
)
_LATIN_NOTES = (
    "Prefers e-mail",
    "Invoice in English",
    "Net 30 payment terms",
    "Call before delivery",
    "Closed on Sundays",
    "New contact since March",
    "Deliver to the warehouse",
    "Quarterly order",
)


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii()).lower()


@dataclass(frozen=True)
class _Buyer:
    """One generated buyer, in HEADER order."""

    values: tuple[str, ...]
    long_column: str | None  # the column holding the over-long value, if any


def _buyer(rng: random.Random, n: int, long_column: str | None) -> _Buyer:
    japanese = rng.random() < 0.55
    if japanese:
        (fam, fam_r), (giv, giv_r) = rng.choice(_JP_FAMILY), rng.choice(_JP_GIVEN)
        name = f"{fam} {giv}"
        email = f"{giv_r}.{fam_r}{n % 97}@example.co.jp"
        phone = (
            rng.choice(("03", "06", "090", "080")) + f"-{rng.randint(1000, 9999)}-"
            f"{rng.randint(1000, 9999)}"
        )
        company = rng.choice(_JP_COMPANIES)
        place: tuple[str, ...] = rng.choice(_JP_PLACES)
        pref, city, town = place
        address = f"{pref}{city}{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
        if rng.random() < 0.4:
            address += f" {rng.choice(_JP_BUILDINGS)}{rng.randint(2, 15)}階"
        notes_pool = _JP_NOTES
    else:
        first, last = rng.choice(_LATIN_FIRST), rng.choice(_LATIN_LAST)
        name = f"{first} {last}"
        email = f"{_ascii(first)}.{_ascii(last)}{n % 97}@example.com"
        phone = (
            rng.choice(("+55 11 9", "+52 55 ", "+54 11 "))
            + f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        )
        company = rng.choice(_LATIN_COMPANIES)
        place = rng.choice(_LATIN_PLACES)
        address = f"{place[0]} {rng.randint(1, 3999)}, {place[1]}"
        notes_pool = _LATIN_NOTES
    notes = rng.choice(notes_pool) if rng.random() < 0.6 else ""
    if long_column == "name":
        name = _long_name(rng, japanese, name)
    elif long_column == "address":
        address = _long_address(rng, japanese, address, place)
    elif long_column == "notes":
        notes = _long_notes(rng, notes_pool, "。" if japanese else "; ")
    return _Buyer((f"B{10000 + n}", name, email, phone, company, address, notes), long_column)


def _long_name(rng: random.Random, japanese: bool, name: str) -> str:
    if japanese:
        # a full name with furigana and the honorific title as typed by sales staff
        # the name with company and titles typed into the name cell
        text = f"{name}（{rng.choice(_JP_COMPANIES)}"
        for title in (
            "代表取締役社長",
            "兼 購買部長",
            "兼 物流センター長",
            "緊急時は携帯へ連絡",
            "経理のご担当は別途",
            "旧姓でのご登録あり",
        ):
            text += f" {title}"
            if len(text) >= LIMIT:
                break
        name = text + "）"
    else:
        # the full name with both family names, as on an ID card
        name = f"{name}-{rng.choice(_LATIN_LAST)} de la {rng.choice(_LATIN_LAST)}"
        while len(name) <= LIMIT:
            name += f" y {rng.choice(_LATIN_LAST)}"
    return name


def _long_address(rng: random.Random, japanese: bool, address: str, place: tuple[str, ...]) -> str:
    if japanese:
        pref, city, town = place
        address = (
            f"〒{rng.randint(100, 999)}-{rng.randint(1000, 9999)} {pref}{city}{town}"
            f"{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号 "
            f"{rng.choice(_JP_BUILDINGS)} {rng.randint(2, 15)}階 "
            f"{rng.randint(101, 1599)}号室 {rng.choice(_JP_COMPANIES)} 購買部 気付"
        )
    else:
        state, country = place[2], place[3]
        address = (
            f"{address}, Apto. {rng.randint(1, 250)}, "
            f"{rng.choice(_LATIN_DISTRICTS)}, {state}, {rng.randint(10000, 99999)}"
            f"-{rng.randint(100, 999)}, {country}"
        )
    return address


def _long_notes(rng: random.Random, pool: Sequence[str], sep: str) -> str:
    notes = rng.sample(list(pool), len(pool))
    text = ""
    for note in notes:
        text = f"{text}{sep}{note}" if text else note
        if len(text) > LIMIT:
            break
    return text


def generate_buyers(
    total: int = TOTAL_BUYERS, long_rows: int = LONG_BUYERS, seed: int = SEED
) -> list[tuple[str, ...]]:
    """The demo sheet's rows (HEADER order): ``long_rows`` of them hold a value > 50 chars.

    Deterministic for a given seed. Every other value is at most 50 characters, so
    exactly ``long_rows`` rows are what a ``VARCHAR(50)`` table refuses.
    """
    rng = random.Random(seed)
    long_at = set(rng.sample(range(total), long_rows))
    columns = ("address",) * 5 + ("notes",) * 3 + ("name",) * 2  # addresses overflow most
    rows: list[tuple[str, ...]] = []
    for i in range(total):
        buyer = _buyer(rng, i + 1, rng.choice(columns) if i in long_at else None)
        if (max(len(v) for v in buyer.values) > LIMIT) != (buyer.long_column is not None):
            raise ValueError(
                f"demo data generator bug: buyer {buyer.values[0]} breaks the "
                f"{LIMIT}-character split"
            )
        rows.append(buyer.values)
    return rows


def write_sheet(path: Path, rows: Sequence[Sequence[str]]) -> None:
    """Write the sheet as UTF-8 CSV with a header row (the first buyer is on row 2)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


# -- the legacy table and the legacy sync -----------------------------------------


def create_legacy_table(db: Database) -> None:
    """Create ``buyers`` as it was before Migration 050: every text column VARCHAR(50).

    SQLite ignores the declared length, so each column also carries the
    ``CHECK (length(col) <= 50)`` that made SQLite installations refuse long values.
    Raises ConfigError when the database already has buyers or buyersync's tables:
    the demo never writes into a database that is in use.
    """
    taken = [t for t in ("buyers", "sync_runs") if db.table_exists(t)]
    if taken:
        raise ConfigError(
            f"{db.display} already has a {taken[0]} table; the demo needs an empty database "
            "of its own",
            hint="point --db at an empty database (CREATE DATABASE buyersync_demo), "
            "or leave --db out to use an SQLite file",
        )
    ts = SQL(db.sql.column_types["ts"])
    cols: list[Composable] = []
    for name in HEADER:
        key = " NOT NULL PRIMARY KEY" if name == "buyer_number" else ""
        # where VARCHAR(n) is not enforced, the legacy table had a CHECK that was
        check = "" if db.sql.enforces_varchar_length else f" CHECK (length({{c}}) <= {LIMIT})"
        cols.append(SQL(f"{{c}} VARCHAR({LIMIT}){key}{check}").format(c=Identifier(name)))
    cols += [
        SQL("created_at {} NOT NULL").format(ts),
        SQL("synced_at {}").format(ts),
        SQL("db_updated_at {}").format(ts),
    ]
    db.execute(SQL("CREATE TABLE {} ({})").format(Identifier("buyers"), cols))


def old_sync(db: Database, rows: Sequence[Sequence[str]]) -> int:
    """Replay the pre-incident sync: insert row by row, silently drop refused rows.

    This is the bug, on purpose: no log, no count, no exit code. Returns the number
    of rows that landed (only so the demo can print it; the old sync did not).
    """
    sql = SQL("INSERT INTO {} ({}, created_at, synced_at, db_updated_at) VALUES ({})").format(
        Identifier("buyers"), identifiers(HEADER), SQL(", ".join(["%s"] * (len(HEADER) + 3)))
    )
    now = db.ts(utcnow())
    landed = 0
    with db.transaction():
        for row in rows:
            try:
                with db.transaction():  # a savepoint: one refused row must not abort the rest
                    db.execute(sql, (*row, now, now, now))
                landed += 1
            except StoreError:
                pass  # the incident: dropped without a trace
    return landed


# -- the real commands ----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One real command the demo ran, as an operator would type it."""

    title: str
    command: str  # what the operator types (no secrets)
    exit_code: int
    seconds: float
    result: dict[str, Any]  # the command's --json document
    summary: str  # the numbers that matter, in one line

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "command": self.command,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Counts:
    """Sheet vs database at one moment of the story."""

    spreadsheet_count: int
    database_count: int
    missing_count: int

    @property
    def missing_percent(self) -> float:
        return (
            round(100 * self.missing_count / self.spreadsheet_count, 1)
            if self.spreadsheet_count
            else 0.0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "spreadsheet_count": self.spreadsheet_count,
            "database_count": self.database_count,
            "missing_count": self.missing_count,
            "missing_percent": self.missing_percent,
        }


@dataclass(frozen=True)
class DemoResult:
    """What the demo showed: before and after, every step, and whether it ended healthy."""

    directory: Path
    database: str  # safe to print
    before: Counts
    after: Counts
    logged_value_too_long: int
    verify_ok: bool
    healthy: bool
    steps: tuple[Step, ...] = field(default=())
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.after.missing_count == 0 and self.verify_ok and self.healthy

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "database": self.database,
            "sheet": str(self.directory / SHEET_FILE),
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "logged_value_too_long": self.logged_value_too_long,
            "verify_ok": self.verify_ok,
            "healthy": self.healthy,
            "duration_s": round(self.duration_s, 2),
            "steps": [s.to_json() for s in self.steps],
        }


class DemoStepFailed(BuyersyncError):
    """A command of the demo could not do its work (exit 2, 3 or 4, or no JSON)."""

    exit_code = 3


class _Runner:
    """Runs ``buyersync`` commands in the demo directory, as separate processes."""

    def __init__(self, directory: Path, database_url: str | None, echo: Echo) -> None:
        self.directory = directory
        self.echo = echo
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BUYERSYNC_") and k != "GOOGLE_APPLICATION_CREDENTIALS"
        }
        if database_url:  # passed by environment so it never shows on a command line
            self.env["BUYERSYNC_DATABASE_URL"] = database_url
        self.steps: list[Step] = []

    def run(
        self,
        title: str,
        args: Sequence[str],
        summarize: Callable[[dict[str, Any]], str],
        ok_codes: Sequence[int] = (0, 1),
    ) -> Step:
        command = "buyersync " + " ".join(args)
        self.echo("")
        self.echo(f"── {title}")
        self.echo(f"$ {command}")
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "buyersync", *args, "--json"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - start
        try:
            doc = json.loads(proc.stdout) if proc.returncode in ok_codes else None
        except json.JSONDecodeError:
            doc = None
        if doc is None:
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DemoStepFailed(
                f"the demo step `{command}` failed (exit {proc.returncode}): {reason}",
                hint=f"the files are in {self.directory}; run the command "
                "there yourself to see more",
            )
        step = Step(title, command, proc.returncode, seconds, doc, summarize(doc))
        self.echo(f"  {step.summary}   [exit {proc.returncode}, {seconds:.1f} s]")
        self.steps.append(step)
        return step


def prepare_directory(directory: Path | None) -> Path:
    """The demo directory: a new temporary one, or ``directory`` (created if needed).

    Files of an earlier demo in the same directory are replaced; a directory holding
    a ``buyersync.db`` the demo did not create is refused.
    """
    if directory is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="buyersync-demo-")).resolve()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER_FILE
    if (directory / DB_FILE).exists() and not marker.exists():
        raise ConfigError(
            f"{directory / DB_FILE} exists and was not made by the demo",
            hint="choose another --dir (or leave it out for a temporary one)",
        )
    for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", SHEET_FILE, REPORT_FILE):
        (directory / name).unlink(missing_ok=True)
    marker.write_text("files made by `buyersync demo`; a new demo here replaces them\n")
    return directory


def _write_config(directory: Path, sqlite: bool) -> None:
    lines = [
        "# written by `buyersync demo`: run buyersync commands from this folder",
        f'source = "{SHEET_FILE}"',
    ]
    if sqlite:
        lines.append(f'database_url = "sqlite:///{DB_FILE}"')
    (directory / CONFIG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _counts(doc: dict[str, Any]) -> Counts:
    return Counts(
        int(doc["spreadsheet_count"]), int(doc["database_count"]), int(doc["missing_count"])
    )


def run_demo(
    directory: Path | None = None, database_url: str | None = None, echo: Echo = print
) -> DemoResult:
    """Reproduce the incident and fix it; return the numbers.

    ``database_url`` None means an SQLite file in the demo directory. A PostgreSQL
    database must not have a ``buyers`` or ``sync_runs`` table yet (ConfigError). Raises
    DemoStepFailed when a command cannot do its work.
    """
    clock = time.monotonic()
    directory = prepare_directory(directory)
    sqlite = database_url is None
    url = database_url or f"sqlite:///{directory / DB_FILE}"
    display = redact_url(url)
    echo(f"buyersync demo — the incident of 356 missing buyers, and its fix, on {display}")
    echo(f"files: {directory}")

    rows = generate_buyers()
    write_sheet(directory / SHEET_FILE, rows)
    _write_config(directory, sqlite)
    echo("")
    echo(
        f"── the sheet: {SHEET_FILE}, {len(rows):,} buyers; {LONG_BUYERS} of them have a "
        f"value longer than {LIMIT} characters (an address, a note, a full name)"
    )

    with open_database(url) as db:
        create_legacy_table(db)
        echo(
            f"── the legacy table: buyers with every text column VARCHAR({LIMIT})"
            + (f" and CHECK (length(col) <= {LIMIT})" if sqlite else "")
        )
        landed = old_sync(db, rows)
    lost = len(rows) - landed
    echo(
        f"── the old sync: inserted row by row, dropped whatever the database refused, "
        f"exited 0 and logged nothing → {landed:,} in the database, {lost} missing "
        f"({100 * lost / len(rows):.1f}%) and nobody knew"
    )
    if not sqlite:
        echo(f"   (the commands below read BUYERSYNC_DATABASE_URL={display})")

    runner = _Runner(directory, database_url, echo)
    runner.run(
        "1. Is the schema able to hold the sheet?",
        ["schema", "check"],
        lambda d: (
            f"{len(d['non_text_fields'])} length-limited columns; "
            f"{len(d.get('would_fail') or [])} sheet rows would not fit"
        ),
    )
    before = _counts(
        runner.run(
            "2. Which buyers are missing?",
            ["missing"],
            lambda d: (
                f"sheet {d['spreadsheet_count']:,}, database "
                f"{d['database_count']:,}, missing "
                f"{d['missing_count']:,}"
            ),
        ).result
    )
    runner.run(
        "3. Sync with error handling: nothing is dropped silently any more",
        ["sync"],
        lambda d: (
            f"rows read {d['rows_read']:,}, inserted {d['inserted']:,}, updated "
            f"{d['updated']:,}, failed {d['failed']:,} (each one logged)"
        ),
    )
    errors = runner.run(
        "4. Every failure is in the error log, with its row and reason",
        ["errors", "--type", "value_too_long", "--limit", "3"],
        lambda d: (
            "counts by type: "
            + ", ".join(f"{k} {v}" for k, v in d["counts_by_type"].items())
            + _first_error(d)
        ),
    )
    logged = int(errors.result["counts_by_type"].get("value_too_long", 0))
    runner.run(
        "5. Migration 050: back up, convert VARCHAR(50) → TEXT, verify",
        ["schema", "fix", "--apply"],
        lambda d: (
            f"converted {len(d.get('converted') or [])} columns; backup "
            f"{d.get('backup_table')} ({d.get('backup_rows')} rows)"
        ),
    )
    runner.run(
        "6. Sync only the missing buyers",
        ["sync-missing"],
        lambda d: f"attempted {d['attempted']:,}, synced {d['synced']:,}, failed {d['failed']:,}",
    )
    runner.run(
        "7. What is wrong now? Every problem of step 3 is resolved, no full sync needed",
        ["problems", "--all"],
        lambda d: (
            f"open problems {d['open']}; resolved "
            f"{sum(g['count'] for g in d['groups'] if not g['open']):,}"
        ),
    )
    verify = runner.run(
        "8. Verify every buyer, field by field",
        ["verify", "--full", "--output", REPORT_FILE],
        lambda d: (
            f"checked {d['checked']:,}; missing {len(d['missing'])}, extra "
            f"{len(d['extra'])}, mismatches {len(d['mismatches'])} → "
            + ("OK" if d["ok"] else "NOT OK")
        ),
    )
    health = runner.run(
        "9. Health check",
        ["health"],
        lambda d: (
            f"{'healthy' if d['healthy'] else 'UNHEALTHY'}: missing "
            f"{d['missing_count']}, error rate {d['error_rate']:.1%}, retry "
            f"queue {d['retry_queue_depth']}, permanent failures "
            f"{d['permanent_failures']}, alerts {len(d['alerts'])}"
        ),
    )
    after = _counts(health.result)
    result = DemoResult(
        directory=directory,
        database=display,
        before=before,
        after=after,
        logged_value_too_long=logged,
        verify_ok=bool(verify.result["ok"]),
        healthy=bool(health.result["healthy"]),
        steps=tuple(runner.steps),
        duration_s=time.monotonic() - clock,
    )
    _epilogue(result, sqlite, echo)
    return result


def _first_error(doc: dict[str, Any]) -> str:
    entries = doc.get("errors") or []
    if not entries:
        return ""
    e = entries[0]
    return f"\n  e.g. row {e['row_number']} (buyer {e['buyer_number']}): {e['error_message']}"


def _epilogue(result: DemoResult, sqlite: bool, echo: Echo) -> None:
    b, a = result.before, result.after
    echo("")
    echo(
        f"before: {b.missing_count} of {b.spreadsheet_count:,} buyers missing "
        f"({b.missing_percent}%), no error anywhere"
    )
    echo(
        f"after:  {a.missing_count} missing, {result.logged_value_too_long} failures logged "
        f"and fixed, verification {'clean' if result.verify_ok else 'NOT clean'}, "
        f"{'healthy' if result.healthy else 'UNHEALTHY'} ({result.duration_s:.0f} s)"
    )
    echo("")
    echo("keep exploring (the settings are in buyersync.toml there):")
    echo(f"  cd {result.directory}")
    if not sqlite:
        echo("  export BUYERSYNC_DATABASE_URL=...   # the database you gave --db")
    echo("  buyersync errors --type value_too_long")
    echo("  buyersync missing")
    echo(f"  open {REPORT_FILE}")
    echo("  buyersync serve                     # the dashboard on http://127.0.0.1:8000")
