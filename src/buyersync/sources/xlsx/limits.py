"""Bounds on what a workbook may make the readers inflate (zip bombs, huge parts).

Every part is checked from the zip directory (its declared uncompressed and compressed
sizes) before a byte of it is inflated. A hostile zip may declare a small size and
hold more: zipfile stops at the declared size and the CRC check then fails, which the
readers report as a damaged file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import IO

from buyersync.errors import SourceContentError

_MIB = 1 << 20
#: Parts smaller than this may compress very well (repeated styles) and are cheap anyway.
RATIO_GRACE_BYTES = _MIB


@dataclass(frozen=True)
class XlsxLimits:
    """The bounds, in bytes; see the ``xlsx_*`` settings in docs/configuration.md."""

    max_part_bytes: int = 64 * _MIB  # a part read whole, and one row of a sheet
    max_sheet_bytes: int = 2048 * _MIB  # a sheet's XML (streamed)
    max_ratio: int = 100


DEFAULT_LIMITS = XlsxLimits()


class LimitExceeded(SourceContentError):
    """A part of the workbook is over one of the ``xlsx_*`` limits."""

    retryable = False  # the same file fails the same way


def _mib(n: int) -> str:
    return f"{n / _MIB:,.0f} MiB" if n >= _MIB else f"{n:,} bytes"


def too_large(filename: str, part: str, size: int, limit: int, setting: str) -> LimitExceeded:
    return LimitExceeded(
        f"{filename}: part {part} is {_mib(size)} uncompressed, over the {_mib(limit)} limit "
        f"({setting}); nothing was read from it",
        hint=f"if the workbook is genuine, raise --{setting.replace('_', '-')} "
        "or export the sheet as CSV",
    )


def check_part(
    zf: zipfile.ZipFile, filename: str, part: str, limits: XlsxLimits, *, sheet: bool = False
) -> zipfile.ZipInfo:
    """The part's directory entry, once its declared sizes are within the limits."""
    info = zf.getinfo(part)
    limit, setting = (
        (limits.max_sheet_bytes, "xlsx_max_sheet_mb")
        if sheet
        else (limits.max_part_bytes, "xlsx_max_part_mb")
    )
    if info.file_size > limit:
        raise too_large(filename, part, info.file_size, limit, setting)
    if info.file_size > RATIO_GRACE_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise LimitExceeded(
                f"{filename}: part {part} inflates {ratio:,.0f} times "
                f"({_mib(info.compress_size)} to {_mib(info.file_size)}), over the limit of "
                f"{limits.max_ratio} (xlsx_max_compression_ratio); it looks like a zip bomb, "
                "nothing was read from it",
                hint="if the workbook is genuine, raise --xlsx-max-compression-ratio",
            )
    return info


def open_part(
    zf: zipfile.ZipFile, filename: str, part: str, limits: XlsxLimits, *, sheet: bool = False
) -> IO[bytes]:
    """The part opened for reading, after :func:`check_part`."""
    info = check_part(zf, filename, part, limits, sheet=sheet)
    # zipfile never returns more than the directory's file_size (it checks the CRC
    # too), so the declared size checked above is the most that comes out.
    return zf.open(info)


def read_part(zf: zipfile.ZipFile, filename: str, part: str, limits: XlsxLimits) -> bytes:
    """The whole part, after :func:`check_part`."""
    with open_part(zf, filename, part, limits) as fh:
        return fh.read()


__all__ = [
    "DEFAULT_LIMITS",
    "LimitExceeded",
    "XlsxLimits",
    "check_part",
    "open_part",
    "read_part",
    "too_large",
]
