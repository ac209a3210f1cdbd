"""Error values of spreadsheet cells, and the row problem that reports one.

Excel and Google Sheets show a formula that failed as an error value. Such a cell is
never stored as text: the reader empties it and adds a problem naming the cell, so the
sync logs the row as ``data_format`` (the XLSX reader and the Google Sheets reader
report them the same way).
"""

from __future__ import annotations

from buyersync.rules.normalize import column_letter

#: Error values as Google Sheets renders them under FORMATTED_VALUE.
GOOGLE_ERROR_VALUES = frozenset(
    {
        "#N/A",
        "#REF!",
        "#DIV/0!",
        "#VALUE!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#ERROR!",
        "#SPILL!",
        "#CALC!",
    }
)


def error_problem(row: int, col: int, error: str) -> tuple[int, str]:
    """``(column_index, message)`` for an error value in cell ``col``/``row``."""
    return (
        col,
        f"cell {column_letter(col)}{row} holds the error {error}; "
        "fix the formula or its inputs in the sheet",
    )
