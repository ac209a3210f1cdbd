"""The demo sheet: 4,140 seeded buyers, exactly 356 of them with a value over 50 characters."""

from __future__ import annotations

import csv
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from buyersync.demo.names import (
    JP_BUILDINGS,
    JP_COMPANIES,
    JP_FAMILY,
    JP_GIVEN,
    JP_NOTES,
    JP_PLACES,
    LATIN_COMPANIES,
    LATIN_DISTRICTS,
    LATIN_FIRST,
    LATIN_LAST,
    LATIN_NOTES,
    LATIN_PLACES,
)

#: The incident's numbers: the demo reproduces them exactly.
TOTAL_BUYERS = 4140
LONG_BUYERS = 356
LIMIT = 50
SEED = 50  # Migration 050

HEADER = ("buyer_number", "name", "email", "phone", "company", "address", "notes")


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii()).lower()


@dataclass(frozen=True)
class _Buyer:
    """One generated buyer, in HEADER order."""

    values: tuple[str, ...]
    long_column: str | None  # the column holding the over-long value, if any


def _buyer(rng: random.Random, n: int, long_column: str | None) -> _Buyer:
    japanese = rng.random() < 0.55
    if japanese:
        (fam, fam_r), (giv, giv_r) = rng.choice(JP_FAMILY), rng.choice(JP_GIVEN)
        name = f"{fam} {giv}"
        email = f"{giv_r}.{fam_r}{n % 97}@example.co.jp"
        phone = (
            rng.choice(("03", "06", "090", "080")) + f"-{rng.randint(1000, 9999)}-"
            f"{rng.randint(1000, 9999)}"
        )
        company = rng.choice(JP_COMPANIES)
        place: tuple[str, ...] = rng.choice(JP_PLACES)
        pref, city, town = place
        address = f"{pref}{city}{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
        if rng.random() < 0.4:
            address += f" {rng.choice(JP_BUILDINGS)}{rng.randint(2, 15)}階"
        notes_pool = JP_NOTES
    else:
        first, last = rng.choice(LATIN_FIRST), rng.choice(LATIN_LAST)
        name = f"{first} {last}"
        email = f"{_ascii(first)}.{_ascii(last)}{n % 97}@example.com"
        phone = (
            rng.choice(("+55 11 9", "+52 55 ", "+54 11 "))
            + f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        )
        company = rng.choice(LATIN_COMPANIES)
        place = rng.choice(LATIN_PLACES)
        address = f"{place[0]} {rng.randint(1, 3999)}, {place[1]}"
        notes_pool = LATIN_NOTES
    notes = rng.choice(notes_pool) if rng.random() < 0.6 else ""
    if long_column == "name":
        name = _long_name(rng, japanese, name)
    elif long_column == "address":
        address = _long_address(rng, japanese, address, place)
    elif long_column == "notes":
        notes = _long_notes(rng, notes_pool, "。" if japanese else "; ")
    return _Buyer((f"B{10000 + n}", name, email, phone, company, address, notes), long_column)


def _long_name(rng: random.Random, japanese: bool, name: str) -> str:
    if japanese:
        # a full name with furigana and the honorific title as typed by sales staff
        # the name with company and titles typed into the name cell
        text = f"{name}（{rng.choice(JP_COMPANIES)}"
        for title in (
            "代表取締役社長",
            "兼 購買部長",
            "兼 物流センター長",
            "緊急時は携帯へ連絡",
            "経理のご担当は別途",
            "旧姓でのご登録あり",
        ):
            text += f" {title}"
            if len(text) >= LIMIT:
                break
        name = text + "）"
    else:
        # the full name with both family names, as on an ID card
        name = f"{name}-{rng.choice(LATIN_LAST)} de la {rng.choice(LATIN_LAST)}"
        while len(name) <= LIMIT:
            name += f" y {rng.choice(LATIN_LAST)}"
    return name


def _long_address(rng: random.Random, japanese: bool, address: str, place: tuple[str, ...]) -> str:
    if japanese:
        pref, city, town = place
        address = (
            f"〒{rng.randint(100, 999)}-{rng.randint(1000, 9999)} {pref}{city}{town}"
            f"{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号 "
            f"{rng.choice(JP_BUILDINGS)} {rng.randint(2, 15)}階 "
            f"{rng.randint(101, 1599)}号室 {rng.choice(JP_COMPANIES)} 購買部 気付"
        )
    else:
        state, country = place[2], place[3]
        address = (
            f"{address}, Apto. {rng.randint(1, 250)}, "
            f"{rng.choice(LATIN_DISTRICTS)}, {state}, {rng.randint(10000, 99999)}"
            f"-{rng.randint(100, 999)}, {country}"
        )
    return address


def _long_notes(rng: random.Random, pool: Sequence[str], sep: str) -> str:
    notes = rng.sample(list(pool), len(pool))
    text = ""
    for note in notes:
        text = f"{text}{sep}{note}" if text else note
        if len(text) > LIMIT:
            break
    return text


def generate_buyers(
    total: int = TOTAL_BUYERS, long_rows: int = LONG_BUYERS, seed: int = SEED
) -> list[tuple[str, ...]]:
    """The demo sheet's rows (HEADER order): ``long_rows`` of them hold a value > 50 chars.

    Deterministic for a given seed. Every other value is at most 50 characters, so
    exactly ``long_rows`` rows are what a ``VARCHAR(50)`` table refuses.
    """
    rng = random.Random(seed)
    long_at = set(rng.sample(range(total), long_rows))
    columns = ("address",) * 5 + ("notes",) * 3 + ("name",) * 2  # addresses overflow most
    rows: list[tuple[str, ...]] = []
    for i in range(total):
        buyer = _buyer(rng, i + 1, rng.choice(columns) if i in long_at else None)
        if (max(len(v) for v in buyer.values) > LIMIT) != (buyer.long_column is not None):
            raise ValueError(
                f"demo data generator bug: buyer {buyer.values[0]} breaks the "
                f"{LIMIT}-character split"
            )
        rows.append(buyer.values)
    return rows


def write_sheet(path: Path, rows: Sequence[Sequence[str]]) -> None:
    """Write the sheet as UTF-8 CSV with a header row (the first buyer is on row 2)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
