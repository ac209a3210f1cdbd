"""Workbooks written byte by byte for the reader tests: exact XML, and zip bombs.

A bomb part is a block repeated many times. Each block is deflated once after a full
flush (which resets the compressor's history), so the same compressed bytes can be
repeated: a 1 GB part costs about 1 MB of file and no time to build.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
ROOT_RELS = (
    f'<?xml version="1.0"?><Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
    f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
    '<sheet name="Buyers" sheetId="1" r:id="rId1"/></sheets></workbook>'
)


def book_rels(shared_strings: bool) -> str:
    ss = (
        f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        if shared_strings
        else ""
    )
    return (
        f'<?xml version="1.0"?><Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
        f'Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>{ss}</Relationships>'
    )


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: list[str], tail: str = "") -> str:
    return (
        f'<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData>{"".join(rows)}'
        f"</sheetData>{tail}</worksheet>"
    )


@dataclass(frozen=True)
class Bomb:
    """``head``, then ``block`` ``repeats`` times, then ``tail``."""

    head: bytes
    block: bytes
    repeats: int
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.head) + len(self.block) * self.repeats + len(self.tail)

    def deflated(self) -> tuple[bytes, int]:
        """The raw deflate stream and the CRC-32 of what it inflates to."""
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = comp.compress(self.head) + comp.flush(zlib.Z_FULL_FLUSH)
        block = comp.compress(self.block) + comp.flush(zlib.Z_FULL_FLUSH)
        tail = comp.compress(self.tail) + comp.flush(zlib.Z_FINISH)
        crc = zlib.crc32(self.head)
        for _ in range(self.repeats):
            crc = zlib.crc32(self.block, crc)
        crc = zlib.crc32(self.tail, crc)
        return head + block * self.repeats + tail, crc


def write_zip(path: Path, parts: dict[str, str | bytes | Bomb]) -> Path:
    """A zip package of deflated parts (no zip64: every part stays under 4 GiB)."""
    local = bytearray()
    central = bytearray()
    for name, content in parts.items():
        if isinstance(content, Bomb):
            data, crc = content.deflated()
            size = content.size
        else:
            raw = content.encode() if isinstance(content, str) else content
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = comp.compress(raw) + comp.flush()
            crc, size = zlib.crc32(raw), len(raw)
        encoded = name.encode()
        offset = len(local)
        fields = (20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + encoded + data
        central += (
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + encoded
        )
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(central), len(local), 0
    )
    path.write_bytes(bytes(local) + bytes(central) + end)
    return path


def workbook(
    path: Path,
    sheet: str | Bomb,
    *,
    shared_strings: str | Bomb | None = None,
    workbook_xml: str | Bomb = WORKBOOK,
) -> Path:
    """A one-sheet workbook ("Buyers") with the given sheet XML and parts."""
    parts: dict[str, str | bytes | Bomb] = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": workbook_xml,
        "xl/_rels/workbook.xml.rels": book_rels(shared_strings is not None),
        "xl/worksheets/sheet1.xml": sheet,
    }
    if shared_strings is not None:
        parts["xl/sharedStrings.xml"] = shared_strings
    return write_zip(path, parts)
