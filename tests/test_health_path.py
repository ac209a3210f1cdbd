"""The health check computes through ``SyncMonitor.compare_counts`` and
``SyncMonitor.calculate_error_rate``: what they return is what ``health`` reports
(so tests aimed at them test the path production takes), on both backends."""

from __future__ import annotations

from pathlib import Path

from buyersync.rules.alerts import Condition, RunFacts, Thresholds
from buyersync.rules.diff import KeyDiff, diff_keys
from buyersync.services.monitor import SyncMonitor
from buyersync.services.sync import SyncEngine
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv


class Measured(SyncMonitor):
    """The real monitor, with each measurement recorded and then bent, to see it used."""

    calls: list[str]

    def compare_counts(self) -> KeyDiff:
        self.calls.append("compare_counts")
        real = super().compare_counts()
        # pretend the sheet also holds B9, which the database lacks
        return diff_keys({**dict(real.missing), "B1": 2, "B2": 3, "B9": 10}, ["B1", "B2"])

    def calculate_error_rate(self, run: RunFacts | None = None) -> float:
        self.calls.append("calculate_error_rate")
        assert run is not None and super().calculate_error_rate(run) == 0.0
        return 0.5


def test_health_reports_what_the_monitor_measures(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], [["B1", "a"], ["B2", "b"]])
    SyncEngine(db, CsvSource(src)).run()
    monitor = Measured(db, source=CsvSource(src), thresholds=Thresholds(error_rate=0.1))
    monitor.calls = []
    report = monitor.check_health(send=False)
    assert sorted(monitor.calls) == ["calculate_error_rate", "compare_counts"]
    doc = report.to_json()
    assert doc["missing"] == [{"buyer_number": "B9", "row_number": 10}]
    assert doc["spreadsheet_count"] == 3 and doc["error_rate"] == 0.5
    fired = {a.condition for a in report.alerts}
    assert fired == {Condition.MISSING_BUYERS, Condition.ERROR_RATE}


def test_the_plain_monitor_measures_the_sheet_and_the_last_run(
    db: Database, tmp_path: Path
) -> None:
    rows = [["B1", "a"], ["", "no key"], ["B3", "c"], ["B4", "d"]]
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], rows)
    SyncEngine(db, CsvSource(src)).run()  # the keyless row fails: 1 of 4 read
    write_csv(src, ["buyer_number", "name"], [*rows, ["B5", "e"]])
    monitor = SyncMonitor(db, source=CsvSource(src))
    assert monitor.calculate_error_rate() == 0.25
    diff = monitor.compare_counts()
    assert [k for k, _ in diff.missing] == ["B5"] and diff.sheet_count == 4
