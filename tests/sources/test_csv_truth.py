"""The CSV reader tells the truth about every record: stray quotes, dialects, paths, sizes.

Each case drives the CLI as an operator does, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buyersync.errors import SourceError
from buyersync.sources.csv_source import CsvSource
from buyersync.store import open_database
from tests.helpers import run_cli


def buyer_lines(n: int, sep: str = ",") -> list[str]:
    return [sep.join(("buyer_number", "name", "city"))] + [
        sep.join((f"B{i}", f"N{i}", f"C{i}")) for i in range(1, n + 1)
    ]


def count(db_url: str, sql: str) -> int:
    with open_database(db_url) as db:
        if not db.table_exists("buyers") and "buyers" in sql:
            return 0
        return int(db.query_value(sql))


def last_run(db_url: str) -> dict:
    with open_database(db_url) as db:
        rows = db.query("SELECT status, message FROM sync_runs ORDER BY started_at DESC")
    return rows[0]


def test_a_stray_quote_stops_the_sync_and_every_check(tmp_path: Path, db_url: str) -> None:
    lines = buyer_lines(1000)
    good = tmp_path / "buyers.csv"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("sync", "--source", str(good), "--db", db_url).returncode == 0
    lines[700] = 'B700,"N700,C700'  # the quote is never closed: 300 rows become one cell
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["--source", str(good), "--db", db_url]

    out = run_cli("sync", *common, "--json")
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert "quoted field opened on line 701" in out.stderr
    assert "301 line(s)" in out.stderr and "nothing was written" in out.stderr
    run_row = last_run(db_url)
    assert run_row["status"] == "failed"
    assert "line 701" in run_row["message"]
    # Nothing written: the buyers are the ones of the good sync, untouched.
    assert count(db_url, "SELECT count(*) FROM buyers") == 1000

    for command in (["missing"], ["verify", "--full"], ["health"]):
        checked = run_cli(*command, *common)
        assert checked.returncode != 0, (command, checked.stdout)
        assert "line 701" in checked.stdout + checked.stderr, command


def test_a_quote_that_swallows_records_names_its_line(tmp_path: Path, db_url: str) -> None:
    lines = buyer_lines(20)
    lines[5] = 'B5,"N5,C5'  # closed by the quote on line 9: lines 7-8 are whole records
    lines[8] = 'B8,"N8" x,C8'
    path = tmp_path / "b.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url)
    assert out.returncode == 3, out.stderr
    assert "opened on line 6" in out.stderr and "takes in 4 line(s)" in out.stderr
    assert count(db_url, "SELECT count(*) FROM buyers") == 0
    assert last_run(db_url)["status"] == "failed"

    # A closing quote followed by a delimiter: the parser alone would accept it.
    lines = buyer_lines(20)
    lines[5] = 'B5,"N5,C5'
    lines[9] = 'B9,",N9",C9'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url)
    assert out.returncode == 3, out.stderr
    assert "line 7 inside it looks like a record" in out.stderr


def test_multi_line_addresses_are_kept_up_to_the_setting(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "addr.csv"
    path.write_text(
        'buyer_number,name,address\nB1,Ann,"1 Main St\nSuite 4\nSpringfield"\nB2,Bob,x\n',
        encoding="utf-8",
    )
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] == 2
    with open_database(db_url) as db:
        assert db.query_value("SELECT address FROM buyers WHERE buyer_number = 'B1'") == (
            "1 Main St\nSuite 4\nSpringfield"
        )
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--csv-max-field-lines", "2")
    assert out.returncode == 3
    assert "takes in 3 lines, more than csv_max_field_lines (2)" in out.stderr
    out = run_cli(
        "sync", "--source", str(path), "--db", db_url, env={"BUYERSYNC_CSV_MAX_FIELD_LINES": "3"}
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_delimiters_are_detected_and_shown_with_v(
    tmp_path: Path, db_url: str, sep: str, name: str
) -> None:
    path = tmp_path / "b.csv"
    # Commas inside the values do not fool the detection.
    lines = buyer_lines(30, sep)
    lines[3] = sep.join(("B3", "Tanaka, Ltd", "Tokyo, Japan"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--json", "-v")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] == 30
    assert f"b.csv: delimiter {name} (detected)" in out.stderr
    with open_database(db_url) as db:
        assert db.query_value("SELECT name FROM buyers WHERE buyer_number = 'B3'") == (
            "Tanaka, Ltd"
        )


def test_the_delimiter_can_be_set_by_flag_and_environment(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "b.csv"
    # A one-column sheet whose values hold semicolons: detection would split them.
    path.write_text("buyer_number\nB1;x;y\nB2;x;y\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--delimiter", "comma", "-v")
    assert out.returncode == 0, out.stderr
    assert "delimiter comma (given)" in out.stderr
    assert (
        count(db_url, "SELECT count(*) FROM buyers WHERE buyer_number = 'B1;X;Y'")
        + count(db_url, "SELECT count(*) FROM buyers WHERE buyer_number = 'B1;x;y'")
        == 1
    )
    semi = tmp_path / "s.csv"
    semi.write_text("buyer_number;name\nS1;a\n", encoding="utf-8")
    out = run_cli(
        "sync", "--source", str(semi), "--db", db_url, "--max-shrink-ratio", "0", "--min-key-share", "0",
        env={"BUYERSYNC_DELIMITER": ";"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    bad = run_cli("sync", "--source", str(semi), "--db", db_url, "--delimiter", "colon")
    assert bad.returncode == 2 and "unknown CSV delimiter 'colon'" in bad.stderr


def test_a_header_less_file_is_refused_without_echoing_it(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "b.csv"
    path.write_text("1001,Ann,0312345678\n1002,Bob,0398765432\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url)
    assert out.returncode == 2
    assert "row 1 looks like data, not a header row" in out.stderr
    assert "0312345678" not in out.stderr
    assert count(db_url, "SELECT count(*) FROM buyers") == 0


def test_only_regular_files_are_read(tmp_path: Path, db_url: str) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    device = tmp_path / "zero.csv"
    device.symlink_to("/dev/zero")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    for path, kind in ((fifo, "a FIFO"), (device, "a device (through a symbolic link)"), (folder, "a directory")):  # fmt: skip
        started = time.monotonic()
        out = run_cli("sync", "--source", str(path), "--db", db_url, timeout=30)
        assert time.monotonic() - started < 20
        assert out.returncode == 3, (path, out.stderr)
        assert f"is {kind}" in out.stderr and "only regular files are read" in out.stderr
        assert "Traceback" not in out.stderr


def test_a_binary_file_is_refused_and_never_echoed(tmp_path: Path, db_url: str) -> None:
    workbook = tmp_path / "export.csv"  # an .xlsx saved under a .csv name
    workbook.write_bytes(b"PK\x03\x04\x14\x00SECRETNAME.xml" + bytes(range(256)))
    out = run_cli("sync", "--source", str(workbook), "--db", db_url)
    assert out.returncode == 3
    assert "is not a text file (it starts like a ZIP archive (an .xlsx workbook?))" in (out.stderr)
    assert "SECRET" not in out.stderr
    noise = tmp_path / "noise.csv"
    noise.write_bytes(b"SECRET,x\n" + bytes(range(128, 256)) * 4)
    out = run_cli("sync", "--source", str(noise), "--db", db_url)
    assert out.returncode == 2 and "undecodable byte 0x80 at byte 9 (line 2)" in out.stderr
    assert "SECRET" not in out.stderr
    assert count(db_url, "SELECT count(*) FROM buyers") == 0


def _peak_rss_kb(*args: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run the CLI in a fresh parent process and return the child's peak RSS."""
    script = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(p.returncode)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-c", script, sys.executable, "-m", "buyersync", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return int(proc.stdout.strip().splitlines()[-1]), proc


def test_a_100_mb_line_stops_at_the_limit_in_bounded_memory(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("buyer_number,name\n")
        fh.write("B1,")
        chunk = "x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write("\n")
    peak, out = _peak_rss_kb("sync", "--source", str(path), "--db", db_url)
    assert out.returncode == 3, out.stderr
    assert "line 2 is longer than 4,000,000 characters (the csv_max_line_chars limit)" in (
        out.stderr
    )
    assert peak < 300 * 1024, f"peak RSS {peak} kB"
    assert count(db_url, "SELECT count(*) FROM buyers") == 0


def test_a_field_over_the_limit_names_the_setting(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("buyer_number,name\nB1,short\nB2," + "y" * 5000 + "\n", encoding="utf-8")
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--csv-max-field-chars", "1000")
    assert out.returncode == 3
    assert "longer than 1,000 characters (the csv_max_field_chars limit)" in out.stderr
    assert "record starting on line 3" in out.stderr
    out = run_cli("sync", "--source", str(path), "--db", db_url, "--csv-max-line-chars", "100")
    assert out.returncode == 3 and "line 3 is longer than 100 characters" in out.stderr
    assert count(db_url, "SELECT count(*) FROM buyers") == 0
    assert run_cli("sync", "--source", str(path), "--db", db_url).returncode == 0


def test_the_parser_is_checked_against_a_separate_line_count(tmp_path: Path) -> None:
    """A file that changes under the reader is never taken as read whole."""
    path = tmp_path / "b.csv"
    path.write_text("\n".join(buyer_lines(5)) + "\n", encoding="utf-8")
    data = CsvSource(path).read()
    rows = data.rows
    first = next(rows)  # the whole small file is in the reader's buffer now
    assert first.values == ("B1", "N1", "C1")
    path.write_text("\n".join(buyer_lines(2)) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        list(rows)
    assert "consumed 6 lines but the file has 3" in str(info.value)


def test_a_link_to_a_system_file_never_shows_its_lines(tmp_path: Path, db_url: str) -> None:
    target = tmp_path / "shadow"
    target.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    link = tmp_path / "buyers.csv"
    link.symlink_to(target)
    out = run_cli("sync", "--source", str(link), "--db", db_url)
    assert out.returncode == 2
    assert "does not look like a CSV table of buyers" in out.stderr
    assert "SECRETHASH" not in out.stderr and "root" not in out.stderr
    assert count(db_url, "SELECT count(*) FROM buyers") == 0
