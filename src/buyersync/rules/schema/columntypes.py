"""What a declared column type means for the text a sheet can put in it."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class TypeKind(enum.StrEnum):
    """What a declared column type means for the values a sheet can put in it."""

    TEXT = "text"  # unlimited text: TEXT, CLOB, VARCHAR/CHARACTER VARYING without a length
    LIMITED = "limited"  # VARCHAR(n) / CHAR(n) and their spellings: at most n characters
    OTHER = "other"  # numbers, timestamps, booleans, JSON, arrays… (not free text)


@dataclass(frozen=True)
class TypeInfo:
    """A classified declared type; ``limit`` is set only for :attr:`TypeKind.LIMITED`."""

    kind: TypeKind
    limit: int | None = None


# VARCHAR(n), CHAR(n), CHARACTER VARYING(n), NATIONAL CHARACTER(n), NVARCHAR(n), NCHAR(n),
# VARYING CHARACTER(n), VARCHAR2(n), NVARCHAR2(n) — with any spacing and case.
_LIMITED_RE = re.compile(
    r"""^\s*(?:
            (?:national\s+)?(?:char|character)(?:\s+varying)?
          | varying\s+(?:char|character)
          | n?varchar2? | nchar | bpchar
        )\s*\(\s*(?P<n>\d+)\s*(?:\s+(?:char|byte)\s*)?\)\s*$""",
    re.I | re.X,
)
_TEXT_RE = re.compile(
    r"""^\s*(?:text|clob|string|
          (?:national\s+)?(?:char|character)\s+varying|varying\s+(?:char|character)|
          n?varchar2?|nchar\s+varying|bpchar)\s*$""",
    re.I | re.X,
)
_PADDED_RE = re.compile(r"^\s*(?:(?:national\s+)?(?:char|character)|nchar|bpchar)\s*\(", re.I)


def classify_type(declared: str) -> TypeInfo:
    """Classify a declared type (PostgreSQL ``format_type`` or a SQLite declaration).

    ``character varying(50)`` and ``CHAR(8)`` are LIMITED with their limit; ``text``
    and a VARCHAR without a length are TEXT; everything else (including arrays of
    varchar and PostgreSQL's one-byte ``"char"``) is OTHER.
    """
    m = _LIMITED_RE.match(declared)
    if m:
        return TypeInfo(TypeKind.LIMITED, int(m.group("n")))
    if _TEXT_RE.match(declared):
        return TypeInfo(TypeKind.TEXT)
    return TypeInfo(TypeKind.OTHER)


def is_padded(declared: str) -> bool:
    """char(n)/character(n)/nchar(n)/bpchar(n): stored padded with spaces to n."""
    return bool(_PADDED_RE.match(declared))


__all__ = ["TypeInfo", "TypeKind", "classify_type", "is_padded"]
