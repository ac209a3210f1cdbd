"""Which sheet rows ``schema check`` predicts the database would refuse, and how it
reports them (the preflight of ``schema check --source`` and ``sync``)."""

from __future__ import annotations

from buyersync.records import SheetRow
from buyersync.rules import schema as rules
from buyersync.rules.lengths import ColumnLimit, LengthCheck, Unit
from buyersync.rules.normalize import map_headers

COLMAP = map_headers(["Name", "Buyer Number", "Notes"], key_header="Buyer Number")


def test_the_buyer_number_is_measured_as_stored_and_named_first() -> None:
    rows = [
        SheetRow(2, ("ok", "  B1\u3000", "")),  # normalized "B1" fits 2 characters
        SheetRow(3, ("x" * 6, "B123", "")),  # both too long: the key comes first
    ]
    out = list(rules.would_fail(rows, COLMAP, {"buyer_number": 2, "name": 5}))
    assert [(r.row_number, r.buyer_number) for r in out] == [(3, "B123")]
    assert out[0].overflows == (
        rules.Overflow("buyer_number", 2, 4),
        rules.Overflow("name", 5, 6),
    )


def test_blank_cells_and_short_rows_are_not_refused() -> None:
    rows = [
        SheetRow(2, ("", "B1", "")),  # blank cells are NULL: they fit
        SheetRow(3, ("  ", "", "")),  # a blank row is skipped, though "  " is over 1
        SheetRow(4, ("xx",)),  # a short row: no buyer number, the name still counts
        SheetRow(5, ("", "", "n" * 4)),  # no buyer number; the notes over their limit
        SheetRow(6, ("yy", "B6")),  # ends before the notes
    ]
    out = list(rules.would_fail(rows, COLMAP, {"name": 1, "notes": 3, "buyer_number": 2}))
    assert [(r.row_number, r.buyer_number, r.overflows) for r in out] == [
        (4, None, (rules.Overflow("name", 1, 2),)),
        (5, None, (rules.Overflow("notes", 3, 4),)),
        (6, "B6", (rules.Overflow("name", 1, 2),)),
    ]


def test_without_limits_or_a_key_limit_nothing_about_the_key() -> None:
    rows = [SheetRow(2, ("a", "B" * 50, "b"))]
    assert list(rules.would_fail(rows, COLMAP, {})) == []
    assert list(rules.would_fail(rows, COLMAP, {"notes": 5})) == []
    # a column the limits do not name is never measured
    assert rules.row_overflows({"name": "x" * 9, "other": None}, {"name": 9}) == ()
    assert rules.row_overflows({"name": "x" * 9}, {"notes": 1}) == ()


def test_a_check_in_bytes_is_reported_with_its_unit_and_name() -> None:
    limit = ColumnLimit(checks=(LengthCheck(4, Unit.BYTES, "notes_bytes"),))
    (row,) = rules.would_fail([SheetRow(7, ("", "B7", "ééé"))], COLMAP, {"notes": limit})
    (over,) = row.overflows
    assert (over.column, over.limit, over.length) == ("notes", 4, 6)
    assert over.describe() == "notes is 6 bytes (limit 4, constraint notes_bytes)"
    assert row.to_json() == {
        "row_number": 7,
        "buyer_number": "B7",
        "columns": [
            {
                "column": "notes",
                "limit": 4,
                "length": 6,
                "unit": "bytes",
                "constraint": "notes_bytes",
            }
        ],
    }
    plain = rules.Overflow("name", 50, 51)
    assert plain.to_json() == {"column": "name", "limit": 50, "length": 51}
    assert plain.describe() == "name is 51 characters (limit 50)"
