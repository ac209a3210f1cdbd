"""The one exception tree of buyersync, and the error categories.

Every error buyersync raises on purpose derives from :class:`BuyersyncError`.
Driver errors (psycopg, sqlite3, HTTP) are translated into this tree at the
boundary that talks to the driver (``buyersync.store.postgres``,
``buyersync.store.sqlite``, ``buyersync.sources.gsheets``) with ``raise ... from exc``::

    BuyersyncError                 base; .category says what kind of failure it is
    ├── ConfigError                bad settings or usage (CLI exit code 2)
    ├── HeaderError                sheet headers that cannot map to columns (exit 2)
    ├── SourceError                the sheet cannot be read
    │   ├── EncodingProblem        bytes that do not decode with the chosen --encoding
    │   └── SourceUnavailable      network / API failure (retryable: rate_limit, source_unavailable)
    ├── StoreError                 the database refused or failed a statement
    │   ├── StoreConnectionError   cannot connect, or the connection was lost (retryable)
    │   └── RowRejected            the database rejected a row's data (22xxx, 23xxx, CHECK)
    ├── LockHeld                   another sync / migration holds the lock
    ├── SyncRefused                a safety rule refused the run (empty or shrunken sheet)
    └── SchemaFixError             Migration 050 could not convert a column

Whether a failure is retryable is decided in exactly one place,
:func:`buyersync.rules.categories.is_retryable`, from its category.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCategory(enum.StrEnum):
    """What went wrong with a row or a run; stored in ``sync_error_log.error_type``."""

    VALIDATION = "validation"  # the row itself is invalid (e.g. no buyer number)
    DUPLICATE_KEY = "duplicate_key"  # the buyer number already appeared higher in the sheet
    VALUE_TOO_LONG = "value_too_long"  # a value exceeds a length-limited column (VARCHAR(n))
    SCHEMA_MISMATCH = "schema_mismatch"  # the database schema does not fit the sheet
    CONSTRAINT = "constraint"  # another database constraint rejected the row (23xxx, CHECK)
    DATA_FORMAT = "data_format"  # a value the database cannot hold (NUL byte, error cell)
    DATABASE_CONNECTION = "database_connection"  # connection refused, lost or shut down
    TIMEOUT = "timeout"  # a statement or lock wait timed out, deadlock, serialization failure
    RATE_LIMIT = "rate_limit"  # the sheet API said 429 after our own retries
    SOURCE_UNAVAILABLE = "source_unavailable"  # the sheet could not be read (5xx, network)
    UNKNOWN = "unknown"  # anything not recognised; retried because it may be transient


class BuyersyncError(Exception):
    """Base of every error buyersync raises on purpose.

    ``category`` classifies the failure; ``hint`` says what the operator can do.
    """

    category: ErrorCategory = ErrorCategory.UNKNOWN
    exit_code: int = 3

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        category: ErrorCategory | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if category is not None:
            self.category = category
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(BuyersyncError):
    """A setting or option is missing or invalid."""

    category = ErrorCategory.VALIDATION
    exit_code = 2


class HeaderError(BuyersyncError):
    """Sheet headers are blank, duplicated or collide after normalization."""

    category = ErrorCategory.SCHEMA_MISMATCH
    exit_code = 2


class SourceError(BuyersyncError):
    """The sheet could not be read."""

    category = ErrorCategory.SOURCE_UNAVAILABLE


class EncodingProblem(SourceError):
    """The file's bytes do not decode with the chosen encoding."""

    category = ErrorCategory.DATA_FORMAT
    exit_code = 2


class SourceUnavailable(SourceError):
    """The sheet API or file is unreachable right now (may succeed later)."""

    category = ErrorCategory.SOURCE_UNAVAILABLE


class StoreError(BuyersyncError):
    """The database failed a statement. ``sqlstate`` is the driver's code when known."""

    category = ErrorCategory.UNKNOWN

    def __init__(self, message: str, *, sqlstate: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.sqlstate = sqlstate


class StoreConnectionError(StoreError):
    """Cannot connect to the database, or the connection was lost."""

    category = ErrorCategory.DATABASE_CONNECTION


class RowRejected(StoreError):
    """The database rejected the data of one or more rows."""

    category = ErrorCategory.CONSTRAINT


class LockHeld(BuyersyncError):
    """Another buyersync process holds the lock for this database."""

    category = ErrorCategory.TIMEOUT


class SyncRefused(BuyersyncError):
    """A safety rule refused the sync (for example the sheet came back empty)."""

    category = ErrorCategory.SOURCE_UNAVAILABLE


class SchemaFixError(BuyersyncError):
    """Migration 050 could not convert one or more columns."""

    category = ErrorCategory.SCHEMA_MISMATCH
