"""Error categorization: which exception class a driver failure is, and its category.

These are the only places that decide it (property 7: deterministic, exactly one
class and so one category per error). Callers translate driver errors into facts (a
SQLSTATE, an HTTP status, "the connection is gone") and ask here for the class; the
class carries the category and whether it is retried (:mod:`buyersync.errors`).
"""

from __future__ import annotations

from buyersync.errors import (
    BadValue,
    BuyersyncError,
    ConstraintViolation,
    DuplicateKey,
    ErrorCategory,
    LockNotAvailable,
    MissingValue,
    RateLimited,
    ResourceExhausted,
    SchemaMismatch,
    SourceTimeout,
    SourceUnavailable,
    StoreConnectionError,
    StoreError,
    StoreTimeout,
    TransactionConflict,
    ValueTooLong,
)

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

# Exact SQLSTATEs that decide the class before their SQLSTATE class does.
_EXACT: dict[str, type[StoreError]] = {
    "22001": ValueTooLong,  # string_data_right_truncation
    "22021": BadValue,  # character_not_in_repertoire (NUL byte)
    "22P05": BadValue,  # untranslatable_character
    "23505": DuplicateKey,  # unique_violation
    "23502": MissingValue,  # not_null_violation (no buyer number)
    "21000": DuplicateKey,  # cardinality_violation: same key twice in one statement
    "57P01": StoreConnectionError,  # admin_shutdown (pg_terminate_backend)
    "57P02": StoreConnectionError,  # crash_shutdown
    "57P03": StoreConnectionError,  # cannot_connect_now
    "57014": StoreTimeout,  # query_canceled (statement_timeout)
    "40001": TransactionConflict,  # serialization_failure
    "40P01": TransactionConflict,  # deadlock_detected
    "55P03": LockNotAvailable,  # lock_not_available (lock_timeout)
    "53300": StoreConnectionError,  # too_many_connections
    "53100": ResourceExhausted,  # disk_full
    "53200": ResourceExhausted,  # out_of_memory
    "0A000": SchemaMismatch,  # feature_not_supported (e.g. column used by a view)
}

# SQLSTATE classes (first two characters).
_CLASSES: dict[str, type[StoreError]] = {
    "08": StoreConnectionError,  # connection exception
    "21": ConstraintViolation,  # cardinality violation
    "22": BadValue,  # data exception
    "23": ConstraintViolation,  # integrity constraint violation
    "42": SchemaMismatch,  # syntax error or access rule violation
    "53": ResourceExhausted,  # insufficient resources (disk, memory; 53300 above)
}

#: The class that stands for each category: what a failure of that category is.
CLASS_FOR_CATEGORY: dict[ErrorCategory, type[BuyersyncError]] = {
    ErrorCategory.VALIDATION: MissingValue,
    ErrorCategory.DUPLICATE_KEY: DuplicateKey,
    ErrorCategory.VALUE_TOO_LONG: ValueTooLong,
    ErrorCategory.SCHEMA_MISMATCH: SchemaMismatch,
    ErrorCategory.CONSTRAINT: ConstraintViolation,
    ErrorCategory.DATA_FORMAT: BadValue,
    ErrorCategory.DATABASE_CONNECTION: StoreConnectionError,
    ErrorCategory.TIMEOUT: StoreTimeout,
    ErrorCategory.RATE_LIMIT: RateLimited,
    ErrorCategory.SOURCE_UNAVAILABLE: SourceUnavailable,
    ErrorCategory.UNKNOWN: StoreError,
}


def error_class_for_sqlstate(
    sqlstate: str | None, *, disconnected: bool = False
) -> type[StoreError]:
    """The exception class of a database error.

    ``disconnected`` is true when the driver reports the connection closed; such
    errors often carry no SQLSTATE at all (psycopg after ``pg_terminate_backend``).
    """
    if disconnected:
        return StoreConnectionError
    if not sqlstate:
        return StoreError
    code = sqlstate.upper()
    if code in _EXACT:
        return _EXACT[code]
    return _CLASSES.get(code[:2], StoreError)


def category_for_sqlstate(sqlstate: str | None, *, disconnected: bool = False) -> ErrorCategory:
    """The category of a database error: that of its class."""
    return error_class_for_sqlstate(sqlstate, disconnected=disconnected).category


def error_class_for_http_status(status: int) -> type[SourceUnavailable]:
    """The exception class of a final HTTP status from the sheet API."""
    if status == 429:
        return RateLimited
    if status in (408, 504):
        return SourceTimeout
    # 5xx, and 401/403/404 (credentials, sharing or the sheet id are wrong): the sheet
    # cannot be read. These are run-level failures; no row is queued for them.
    return SourceUnavailable


def category_for_http_status(status: int) -> ErrorCategory:
    """The category of a final HTTP status from the sheet API: that of its class."""
    return error_class_for_http_status(status).category


def is_retryable(category: ErrorCategory) -> bool:
    """Whether row failures of this category are put in the retry queue."""
    return category in RETRYABLE
