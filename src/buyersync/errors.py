"""The one exception tree of buyersync, and the error categories.

Every error buyersync raises on purpose derives from :class:`BuyersyncError`.
Driver errors (psycopg, sqlite3, HTTP) are translated into this tree at the
boundary that talks to the driver (``buyersync.store.postgres``,
``buyersync.store.sqlite``, ``buyersync.sources.gsheets``) with ``raise ... from exc``.

What an error means is its class, and only its class: the class decides the
category stored in the error log (``category``) and whether retrying can help
(``retryable``); the CLI turns classes into exit codes in one table
(:data:`buyersync.cli.common.EXIT_CODES`). Control flow tests ``isinstance``, never
a category or a SQLSTATE::

    BuyersyncError                 anything not recognised          unknown          retried
    ├── ConfigError                bad settings or usage            validation       no
    ├── HeaderError                headers that cannot map          schema_mismatch  no
    ├── SourceError                the sheet cannot be read         source_unavail.  retried
    │   ├── EncodingProblem        bytes that do not decode         data_format      no
    │   ├── SourceContentError     read, but not to be trusted      data_format      no
    │   └── SourceUnavailable      network / API failure            source_unavail.  retried
    │       ├── RateLimited        HTTP 429 after our own retries   rate_limit       retried
    │       └── SourceTimeout      no answer in time (408/504)      timeout          retried
    ├── StoreError                 the database failed a statement  unknown          retried
    │   ├── StoreConnectionError   cannot connect / connection lost database_conn.   retried
    │   ├── StoreTimeout           statement or lock wait timed out timeout          retried
    │   │   └── LockNotAvailable   a table lock did not come        timeout          retried
    │   ├── TransactionConflict    deadlock, serialization failure  timeout          retried
    │   ├── ResourceExhausted      disk full, out of memory         unknown          no: stop
    │   ├── SchemaMismatch         the schema does not fit          schema_mismatch  no
    │   └── RowRejected            a row's data was refused         constraint       no
    │       ├── ConstraintViolation a CHECK or other constraint     constraint       no
    │       ├── ValueTooLong       over a VARCHAR(n) limit          value_too_long   no
    │       ├── DuplicateKey       the same key twice               duplicate_key    no
    │       ├── MissingValue       NOT NULL (no buyer number)       validation       no
    │       └── BadValue           a value the type cannot hold     data_format      no
    ├── LockHeld                   another sync / migration runs    timeout          retried
    ├── SyncRefused                a safety rule refused the run    validation       no
    ├── SchemaFixError             Migration 050 failed             schema_mismatch  no
    │   └── SchemaFixBusy          buyers stayed locked             timeout          retried
    └── NotificationFailed         an alert channel did not take it unknown          retried

``retryable`` of a class says whether the same work may succeed later without a
person changing anything; for the categories a row failure can have, it agrees with
:func:`buyersync.rules.categories.is_retryable` (the contract's list). The one
exception is :class:`ResourceExhausted`: it is never a row's failure (the run stops
and the operator is told, since retrying would fill the disk again), and the
contract has no category of its own for it.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar


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

    ``hint`` says what the operator can do; ``details`` are facts for the error log
    (never a secret). ``category`` and ``retryable`` belong to the class: a subclass
    names them in its header (``class X(StoreError, category=…, retryable=False)``),
    and what it leaves out it inherits.
    """

    category: ClassVar[ErrorCategory] = ErrorCategory.UNKNOWN
    retryable: ClassVar[bool] = True  # not recognised: it may be transient

    def __init_subclass__(
        cls,
        *,
        category: ErrorCategory | None = None,
        retryable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if category is not None:
            cls.category = category
        if retryable is not None:
            cls.retryable = retryable

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(BuyersyncError, category=ErrorCategory.VALIDATION, retryable=False):
    """A setting or option is missing or invalid."""


class HeaderError(BuyersyncError, category=ErrorCategory.SCHEMA_MISMATCH, retryable=False):
    """Sheet headers are blank, duplicated or collide after normalization."""


class SourceError(BuyersyncError, category=ErrorCategory.SOURCE_UNAVAILABLE, retryable=True):
    """The sheet could not be read."""


class EncodingProblem(SourceError, category=ErrorCategory.DATA_FORMAT, retryable=False):
    """The file's bytes do not decode with the chosen encoding."""


class SourceContentError(SourceError, category=ErrorCategory.DATA_FORMAT, retryable=False):
    """The sheet was read but what it holds cannot be taken as it is: a stray quote that
    swallowed records, a count that disagrees, a value over a size limit, a file that is
    not text. The same file fails the same way until someone changes it."""


class SourceUnavailable(SourceError, category=ErrorCategory.SOURCE_UNAVAILABLE):
    """The sheet API or file is unreachable right now (may succeed later)."""


class RateLimited(SourceUnavailable, category=ErrorCategory.RATE_LIMIT):
    """The sheet API kept answering 429 (quota) after our own retries."""


class SourceTimeout(SourceUnavailable, category=ErrorCategory.TIMEOUT):
    """The sheet API did not answer in time (408 or 504) after our own retries."""


class StoreError(BuyersyncError, category=ErrorCategory.UNKNOWN, retryable=True):
    """The database failed a statement. ``sqlstate`` is the driver's code when known."""

    def __init__(self, message: str, *, sqlstate: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.sqlstate = sqlstate


class StoreConnectionError(StoreError, category=ErrorCategory.DATABASE_CONNECTION):
    """Cannot connect to the database, or the connection was lost."""


class StoreTimeout(StoreError, category=ErrorCategory.TIMEOUT):
    """A statement or lock wait timed out: about the database, not about any one row."""


class LockNotAvailable(StoreTimeout):
    """A lock was not granted within ``lock_timeout`` (55P03; SQLite: the file is locked)."""


class TransactionConflict(StoreError, category=ErrorCategory.TIMEOUT):
    """The transaction lost a race (deadlock, serialization failure); running it again
    usually works. Unlike :class:`StoreTimeout` it may be one row's doing."""


class ResourceExhausted(StoreError, category=ErrorCategory.UNKNOWN, retryable=False):
    """The database ran out of disk or memory: stop and tell the operator.

    Retrying would fail the same way (or fill the disk further), so it is not
    retried, and it is never recorded as a row's failure.
    """


class SchemaMismatch(StoreError, category=ErrorCategory.SCHEMA_MISMATCH, retryable=False):
    """The database's schema does not fit (a missing table or column, a view in the way)."""


class RowRejected(StoreError, category=ErrorCategory.CONSTRAINT, retryable=False):
    """The database rejected the data of one or more rows (a CHECK or other constraint)."""


class ConstraintViolation(RowRejected):
    """A CHECK, foreign key or other integrity constraint refused the row (23xxx)."""


class ValueTooLong(RowRejected, category=ErrorCategory.VALUE_TOO_LONG):
    """A value is longer than its column allows (22001, a length CHECK)."""


class DuplicateKey(RowRejected, category=ErrorCategory.DUPLICATE_KEY):
    """The same buyer number twice (23505; 21000 within one statement)."""


class MissingValue(RowRejected, category=ErrorCategory.VALIDATION):
    """A required value is missing (NOT NULL: no buyer number)."""


class BadValue(RowRejected, category=ErrorCategory.DATA_FORMAT):
    """A value the column's type or encoding cannot hold (22xxx: NUL byte, bad number)."""


class LockHeld(BuyersyncError, category=ErrorCategory.TIMEOUT, retryable=True):
    """Another buyersync process holds the lock for this database."""


class SyncRefused(BuyersyncError, category=ErrorCategory.VALIDATION, retryable=False):
    """A safety rule refused the sync (for example the sheet came back empty).

    Not retried: the same sheet would be refused again; a person checks the sheet
    (or lowers ``--max-shrink-ratio``).
    """


class SchemaFixError(BuyersyncError, category=ErrorCategory.SCHEMA_MISMATCH, retryable=False):
    """Migration 050 could not convert one or more columns (rolled back)."""


class SchemaFixBusy(SchemaFixError, category=ErrorCategory.TIMEOUT, retryable=True):
    """Migration 050 could not lock ``buyers``: it stayed busy; nothing was changed."""


class NotificationFailed(BuyersyncError, category=ErrorCategory.UNKNOWN, retryable=True):
    """An alert channel (SMTP, webhook) did not accept the notification."""
