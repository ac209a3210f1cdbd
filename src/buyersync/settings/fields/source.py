"""Settings of the database and of the sheet read: where, which part, and the XLSX and CSV
bounds."""

from __future__ import annotations

from buyersync.settings.spec import Spec

SOURCE: tuple[Spec, ...] = (
    Spec(
        "database_url",
        str,
        "sqlite:///buyersync.db",
        "Database URL: sqlite:///path.db or postgresql://user:pass@host:port/db.",
        "--db",
        secret=True,
    ),
    Spec(
        "source",
        str,
        None,
        "The sheet: a .csv or .xlsx path, a Google Sheets URL, or gsheets:<ID>.",
        "--source",
    ),
    Spec(
        "sheet",
        str,
        None,
        "Worksheet name in an XLSX file or a Google Sheet (default: the first).",
        "--sheet",
    ),
    Spec(
        "sheet_range",
        str,
        None,
        "What to read, where --sheet is accepted: a sheet name, a named range, or for a "
        "Google Sheet an A1 range such as 'Buyers!A1:F' (header on its first row).",
        "--range",
    ),
    Spec(
        "header_row",
        int,
        1,
        "Row number of the header row (rows above it are a title block).",
        "--header-row",
    ),
    Spec(
        "encoding",
        str,
        "utf-8",
        "Encoding of a CSV file (utf-8 with or without BOM, cp932, ...).",
        "--encoding",
    ),
    # -- XLSX bounds: a hostile workbook cannot take unbounded memory or time --
    Spec(
        "xlsx_max_part_mb",
        int,
        64,
        "Largest uncompressed size, in MiB, of an XLSX part read whole (shared strings, "
        "workbook, styles, relationships) and of one sheet row.",
        "--xlsx-max-part-mb",
    ),
    Spec(
        "xlsx_max_sheet_mb",
        int,
        2048,
        "Largest uncompressed size, in MiB, of an XLSX sheet's XML (read in chunks).",
        "--xlsx-max-sheet-mb",
    ),
    Spec(
        "xlsx_max_compression_ratio",
        int,
        100,
        "Largest uncompressed/compressed size ratio of an XLSX part over 1 MiB "
        "(a zip bomb inflates far more than a real workbook).",
        "--xlsx-max-compression-ratio",
    ),
    Spec(
        "xlsx_stream_threshold_mb",
        int,
        64,
        "Sheets with more XML than this many MiB are read by the streaming reader "
        "(bounded memory) instead of python-calamine (faster, whole sheet in memory).",
        "--xlsx-stream-threshold-mb",
    ),
    # -- CSV dialect and bounds (docs/sources.md, "CSV") --
    Spec(
        "delimiter",
        str,
        None,
        "CSV delimiter: comma, semicolon, tab or pipe (or the character itself); "
        "unset: detected from the header and the rows under it.",
        "--delimiter",
    ),
    Spec(
        "csv_max_field_lines",
        int,
        20,
        "Most physical lines one quoted CSV field may take in (multi-line addresses); "
        "a longer one is taken for a quote that was never closed.",
        "--csv-max-field-lines",
    ),
    Spec(
        "csv_max_field_chars",
        int,
        1_000_000,
        "Longest CSV field, in characters; a longer one stops the read (exit 3).",
        "--csv-max-field-chars",
    ),
    Spec(
        "csv_max_line_chars",
        int,
        4_000_000,
        "Longest physical CSV line, in characters; a longer one stops the read (exit 3).",
        "--csv-max-line-chars",
    ),
)
