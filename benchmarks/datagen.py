"""Realistic generated buyers: CSV and XLSX files of the same rows.

Rows look like the real sheet: 16 text columns, Japanese and Latin names, kana,
addresses with building names, phone numbers with leading zeros, and free-text notes
from empty to several hundred characters (about 850 bytes a row on average in
UTF-8). Generation is deterministic (seeded), so two runs measure the same data.

``changed_every=100`` produces the "1% changed" variant: every hundredth buyer has
an edited note and status, everything else is byte-identical.

``width="narrow"`` gives an ordinary buyer sheet instead: 15 short columns (no
company, no notes; a last-contact date), about 225 bytes a row — the same buyers,
so the per-row cost shows apart from the per-byte cost.
"""

from __future__ import annotations

import csv
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from buyersync.rules.normalize import column_letter

HEADER = (
    "buyer_number",
    "name",
    "name_kana",
    "company",
    "email",
    "phone",
    "postal_code",
    "prefecture",
    "city",
    "address",
    "building",
    "status",
    "assigned_to",
    "source_channel",
    "registered_on",
    "notes",
)
#: The narrow profile: name, kana, e-mail, phone, postal code, address, status …
NARROW_HEADER = (
    "buyer_number",
    "name",
    "name_kana",
    "email",
    "phone",
    "postal_code",
    "prefecture",
    "city",
    "address",
    "building",
    "status",
    "assigned_to",
    "source_channel",
    "registered_on",
    "last_contact_on",
)
WIDTHS = ("narrow", "wide")


def header(width: str = "wide") -> tuple[str, ...]:
    return NARROW_HEADER if width == "narrow" else HEADER


_FAMILY = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
]
_GIVEN = [
    "太郎",
    "花子",
    "一郎",
    "陽子",
    "健太",
    "美咲",
    "翔",
    "さくら",
    "大輔",
    "由美",
    "拓也",
    "愛",
    "直樹",
    "恵子",
    "誠",
    "真由美",
]
_KANA_FAMILY = [
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ヤマモト",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
]
_KANA_GIVEN = ["タロウ", "ハナコ", "イチロウ", "ヨウコ", "ケンタ", "ミサキ", "ショウ", "サクラ"]
_LATIN_FIRST = [
    "James",
    "Maria",
    "Chen",
    "Olivia",
    "Lucas",
    "Sofia",
    "Arjun",
    "Emma",
    "Mateo",
    "Aiko",
    "Noah",
    "Isabella",
    "Mohammed",
    "Anna",
]
_LATIN_LAST = [
    "Smith",
    "García",
    "Wang",
    "Müller",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Johnson",
    "O'Brien",
    "Dubois",
    "Andersson",
    "Fernández-López",
]
_COMPANY = ["株式会社", "有限会社", "合同会社", ""]
_COMPANY_WORD = [
    "サンライズ",
    "みどり商事",
    "東洋物産",
    "北斗システム",
    "Blue Harbor Trading",
    "Acme Pacific Holdings",
    "富士テクノロジー",
    "さくら不動産",
    "Nordic Design Studio",
    "丸八食品",
    "グローバル・ロジスティクス・ソリューションズ",
]
_PREF = [
    "東京都",
    "大阪府",
    "神奈川県",
    "愛知県",
    "北海道",
    "福岡県",
    "京都府",
    "兵庫県",
    "埼玉県",
    "千葉県",
]
_CITY = [
    "渋谷区",
    "新宿区",
    "港区",
    "横浜市中区",
    "大阪市北区",
    "名古屋市中村区",
    "札幌市中央区",
    "福岡市博多区",
    "京都市下京区",
    "さいたま市大宮区",
]
_STREET = [
    "神南",
    "西新宿",
    "六本木",
    "山下町",
    "梅田",
    "名駅",
    "北一条西",
    "博多駅前",
    "烏丸通四条下る",
    "桜木町",
]
_BUILDING = [
    "",
    "",
    "",
    "サンシャインビル 5F",
    "グランドタワー 23階 2301号室",
    "第二丸八ビルディング 3F 受付経由",
    "Harbor View Residence #1204",
    "メゾン桜 101",
]
_STATUS = ["active", "active", "active", "prospect", "inactive", "契約済み", "商談中"]
_STAFF = ["営業一課 田中", "営業二課 佐藤", "Kenji Mori", "海外営業 Smith", "本社 山本"]
_CHANNEL = ["web", "展示会", "紹介", "電話", "メールマガジン", "partner referral"]
_SENTENCES = [
    "初回訪問済み。",
    "見積書を送付。",
    "来月の展示会で再度ご案内予定。",
    "担当者変更あり、新担当は経理部の方。",
    "Prefers e-mail in English.",
    "支払条件は月末締め翌月末払い。",
    "大口案件の可能性あり、要フォロー。",
    "Called twice, no answer; try again after 3pm JST.",
    "請求書の宛名は本社住所で。",
    "納品先は倉庫（千葉県市川市）。",
    "キャンペーン対象外。",
    "Requested a quote for 1,200 units, delivery in Q3.",
    "社長とは旧知の仲。",
    "過去に配送トラブルあり（2022年）。丁寧な対応を。",
]


def _note_pool(rng: random.Random, size: int = 512) -> list[str]:
    pool = []
    for _ in range(size):
        k = rng.choice([0, 2, 4, 8, 10, 14, 18, 22, 30, 40])
        pool.append("".join(rng.choice(_SENTENCES) for _ in range(k)))
    return pool


def rows(n: int, *, seed: int = 10, changed_every: int | None = None) -> Iterator[list[str]]:
    """``n`` buyers as lists of strings in :data:`HEADER` order (deterministic)."""
    rng = random.Random(seed)
    notes = _note_pool(rng)
    choice = rng.choice
    rand = rng.randrange
    for i in range(n):
        if rand(10) < 7:
            family, given = choice(_FAMILY), choice(_GIVEN)
            name = f"{family} {given}"
            kana = f"{choice(_KANA_FAMILY)} {choice(_KANA_GIVEN)}"
        else:
            name = f"{choice(_LATIN_FIRST)} {choice(_LATIN_LAST)}"
            kana = ""
        company = choice(_COMPANY) + choice(_COMPANY_WORD)
        row = [
            f"B{i + 1:07d}",
            name,
            kana,
            company,
            f"user{i + 1}.{rand(1000)}@example.co.jp",
            f"0{rand(1, 10)}-{rand(1000, 9999)}-{rand(1000, 9999)}",
            f"{rand(100, 999)}-{rand(0, 9999):04d}",
            choice(_PREF),
            choice(_CITY),
            f"{choice(_STREET)}{rand(1, 9)}丁目{rand(1, 30)}番{rand(1, 20)}号",
            choice(_BUILDING),
            choice(_STATUS),
            choice(_STAFF),
            choice(_CHANNEL),
            f"20{rand(15, 25)}-{rand(1, 13):02d}-{rand(1, 29):02d}",
            choice(notes),
        ]
        if changed_every and i % changed_every == changed_every // 2:
            row[11] = "更新済み"
            row[15] = row[15] + " 2024-06 追記: 連絡先を更新。"
        yield row


def narrow_rows(n: int, *, seed: int = 10, changed_every: int | None = None) -> Iterator[list[str]]:
    """The same buyers as :func:`rows`, in :data:`NARROW_HEADER` order."""
    rng = random.Random(seed + 1)
    for i, row in enumerate(rows(n, seed=seed)):
        contact = f"20{rng.randrange(23, 26)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        out = [*row[0:3], *row[4:15], contact]
        if changed_every and i % changed_every == changed_every // 2:
            out[10] = "更新済み"
            out[14] = "2024-06-30"
        yield out


def write_csv(path: Path, n: int, *, changed_every: int | None = None, width: str = "wide") -> Path:
    """Write ``n`` buyers as a UTF-8 CSV with a header row (``width``: wide or narrow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    make = narrow_rows if width == "narrow" else rows
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header(width))
        writer.writerows(make(n, changed_every=changed_every))
    return path


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="buyers" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


def write_xlsx(path: Path, n: int, *, changed_every: int | None = None) -> Path:
    """Write ``n`` buyers as an XLSX workbook the way Excel does (shared strings).

    The XML parts are written directly (openpyxl's writer takes minutes for 100,000
    rows); every cell is a shared string, as Excel stores typed-in text.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    letters = [column_letter(i) for i in range(len(HEADER))]
    strings: dict[str, int] = {}
    table: list[str] = []

    def sst(value: str) -> int:
        index = strings.get(value)
        if index is None:
            index = strings[value] = len(table)
            table.append(value)
        return index

    total_refs = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as raw:
            out: list[str] = [
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<sheetData>"
            ]
            all_rows = [list(HEADER)]
            for number, values in enumerate(
                _chain(all_rows, rows(n, changed_every=changed_every)), start=1
            ):
                cells = []
                for letter, value in zip(letters, values, strict=True):
                    if value:
                        total_refs += 1
                        cells.append(f'<c r="{letter}{number}" t="s"><v>{sst(value)}</v></c>')
                out.append(f'<row r="{number}">{"".join(cells)}</row>')
                if len(out) >= 2000:
                    raw.write("".join(out).encode("utf-8"))
                    out.clear()
            out.append("</sheetData></worksheet>")
            raw.write("".join(out).encode("utf-8"))
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as raw:
            raw.write(
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'count="{total_refs}" uniqueCount="{len(table)}">'.encode()
            )
            for start in range(0, len(table), 5000):
                raw.write(
                    "".join(
                        f'<si><t xml:space="preserve">{escape(s)}</t></si>'
                        for s in table[start : start + 5000]
                    ).encode("utf-8")
                )
            raw.write(b"</sst>")
    return path


def _chain(first: list[list[str]], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest
