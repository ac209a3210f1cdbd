"""Error categorization: which category a failure belongs to, and whether it is retried.

These are the only places that decide it (property 7: deterministic, exactly one
category per error). Callers translate driver errors into facts (a SQLSTATE, an HTTP
status, "the connection is gone") and ask here.
"""

from __future__ import annotations

from buyersync.errors import ErrorCategory

#: Categories retried automatically (the contract's list).
RETRYABLE: frozenset[ErrorCategory] = frozenset(
    {
        ErrorCategory.DATABASE_CONNECTION,
        ErrorCategory.TIMEOUT,
        ErrorCategory.RATE_LIMIT,
        ErrorCategory.SOURCE_UNAVAILABLE,
        ErrorCategory.UNKNOWN,
    }
)

# Exact SQLSTATEs that decide the category before their class does.
_EXACT: dict[str, ErrorCategory] = {
    "22001": ErrorCategory.VALUE_TOO_LONG,  # string_data_right_truncation
    "22021": ErrorCategory.DATA_FORMAT,  # character_not_in_repertoire (NUL byte)
    "22P05": ErrorCategory.DATA_FORMAT,  # untranslatable_character
    "23505": ErrorCategory.DUPLICATE_KEY,  # unique_violation
    "23502": ErrorCategory.VALIDATION,  # not_null_violation (no buyer number)
    "21000": ErrorCategory.DUPLICATE_KEY,  # cardinality_violation: same key twice in one statement
    "57P01": ErrorCategory.DATABASE_CONNECTION,  # admin_shutdown (pg_terminate_backend)
    "57P02": ErrorCategory.DATABASE_CONNECTION,  # crash_shutdown
    "57P03": ErrorCategory.DATABASE_CONNECTION,  # cannot_connect_now
    "57014": ErrorCategory.TIMEOUT,  # query_canceled (statement_timeout)
    "40001": ErrorCategory.TIMEOUT,  # serialization_failure
    "40P01": ErrorCategory.TIMEOUT,  # deadlock_detected
    "55P03": ErrorCategory.TIMEOUT,  # lock_not_available (lock_timeout)
    "53300": ErrorCategory.DATABASE_CONNECTION,  # too_many_connections
    "53100": ErrorCategory.SCHEMA_MISMATCH,  # disk_full: stop and alert, do not loop
    "53200": ErrorCategory.SCHEMA_MISMATCH,  # out_of_memory: stop and alert, do not loop
    "0A000": ErrorCategory.SCHEMA_MISMATCH,  # feature_not_supported (e.g. column used by a view)
}

# SQLSTATE classes (first two characters).
_CLASSES: dict[str, ErrorCategory] = {
    "08": ErrorCategory.DATABASE_CONNECTION,  # connection exception
    "22": ErrorCategory.DATA_FORMAT,  # data exception
    "23": ErrorCategory.CONSTRAINT,  # integrity constraint violation
    "42": ErrorCategory.SCHEMA_MISMATCH,  # syntax error or access rule violation
}


def category_for_sqlstate(sqlstate: str | None, *, disconnected: bool = False) -> ErrorCategory:
    """Map a database error to its category.

    ``disconnected`` is true when the driver reports the connection closed; such
    errors often carry no SQLSTATE at all (psycopg after ``pg_terminate_backend``).
    """
    if disconnected:
        return ErrorCategory.DATABASE_CONNECTION
    if not sqlstate:
        return ErrorCategory.UNKNOWN
    code = sqlstate.upper()
    if code in _EXACT:
        return _EXACT[code]
    return _CLASSES.get(code[:2], ErrorCategory.UNKNOWN)


def category_for_http_status(status: int) -> ErrorCategory:
    """Map a final HTTP status from the sheet API to a category."""
    if status == 429:
        return ErrorCategory.RATE_LIMIT
    if status in (408, 504):
        return ErrorCategory.TIMEOUT
    # 5xx, and 401/403/404 (credentials, sharing or the sheet id are wrong): the sheet
    # cannot be read. These are run-level failures; no row is queued for them.
    return ErrorCategory.SOURCE_UNAVAILABLE


def is_retryable(category: ErrorCategory) -> bool:
    """Whether failures of this category are put in the retry queue."""
    return category in RETRYABLE
