"""Settings of Google Sheets, of outbound requests, and of feedback written to the sheet."""

from __future__ import annotations

from buyersync.settings.spec import Spec

GOOGLE: tuple[Spec, ...] = (
    Spec(
        "sheets_api_url",
        str,
        "https://sheets.googleapis.com",
        "Base URL of the Google Sheets API (for tests and proxies).",
        "--sheets-api-url",
    ),
    Spec(
        "google_credentials",
        str,
        None,
        "Path of a Google service-account JSON file.",
        "--google-credentials",
        env="GOOGLE_APPLICATION_CREDENTIALS",
    ),
    # -- Outbound requests: every HTTP request to a peer and every SMTP send
    # (buyersync.outbound; docs/reliability.md, "Security") --
    Spec(
        "sheets_timeout_seconds",
        float,
        30.0,
        "Total seconds one Google Sheets or token request may take, from connecting to "
        "the last byte of the answer (a silent server is retried; a slow answer stops the "
        "sync, exit 3).",
        "--sheets-timeout",
    ),
    Spec(
        "alert_timeout_seconds",
        float,
        10.0,
        "Total seconds one alert delivery may take (the webhook POST, or the whole SMTP "
        "conversation); past it the channel counts as down.",
        "--alert-timeout",
    ),
    Spec(
        "http_max_response_bytes",
        int,
        64 * 1024 * 1024,
        "Largest answer body accepted from an HTTP peer (a Sheets page of 10,000 rows is "
        "a few MB); error bodies are only read up to 8 KB.",
        "--http-max-response-bytes",
    ),
    Spec(
        "http_max_json_depth",
        int,
        32,
        "Deepest nesting of arrays and objects accepted in a JSON answer.",
        "--http-max-json-depth",
    ),
    Spec(
        "http_max_json_values",
        int,
        2_000_000,
        "Most JSON values (cells, arrays, objects) accepted in one answer; bounds the "
        "memory a parsed answer takes.",
        "--http-max-json-values",
    ),
    # -- Feedback to the people who edit the sheet (docs/sheet-feedback.md) --
    Spec(
        "sheet_feedback",
        str,
        "off",
        "Write open problems back to a Google Sheet after each sync: off, notes (a note "
        "on each failing cell) or tab (a tab listing them). notes and tab need the "
        "read-write scope https://www.googleapis.com/auth/spreadsheets.",
        "--sheet-feedback",
    ),
    Spec(
        "sheet_feedback_tab",
        str,
        "buyersync problems",
        "Title of the tab that lists the open problems (sheet_feedback = tab, and the "
        "problems that could not get a note).",
        "--sheet-feedback-tab",
    ),
    Spec(
        "sheet_feedback_max_notes",
        int,
        1000,
        "Most notes written in one run; the rest are listed on the problems tab.",
        "--sheet-feedback-max-notes",
    ),
)
