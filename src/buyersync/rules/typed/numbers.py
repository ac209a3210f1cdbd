"""Integers, numerics and reals: numbers written per ``number_format``, in PostgreSQL's ranges."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from functools import lru_cache

from buyersync.rules.coltypes import ColumnType
from buyersync.rules.typed.options import (
    NUMBER_FORMATS,
    ParseOptions,
    Problem,
    ProblemCode,
    Value,
    out_of_range,
)

# PostgreSQL's limits for an unconstrained numeric.
_MAX_NUMERIC_INT_DIGITS = 131072
_MAX_NUMERIC_FRAC_DIGITS = 16383
# Larger exponents are out of every type's range; refusing them early keeps parse cheap.
_MAX_EXPONENT = 200_000


@lru_cache(maxsize=8)
def _number_pattern(number_format: str) -> re.Pattern[str]:
    thousands, point = NUMBER_FORMATS[number_format]
    t = "[" + re.escape(thousands) + "]"
    d = re.escape(point)
    return re.compile(
        rf"(?P<sign>[+-])?"
        rf"(?P<int>[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)?"
        rf"(?:{d}(?P<frac>[0-9]*))?"
        rf"(?:[eE](?P<exp>[+-]?[0-9]+))?"
    )


@dataclass(frozen=True)
class _Number:
    value: Decimal
    fraction: bool  # written with a decimal separator
    exponent: bool  # written with an exponent


def _number(text: str, number_format: str) -> _Number | None:
    m = _number_pattern(number_format).fullmatch(text)
    if m is None or (m["int"] is None and not m["frac"]):
        return None
    digits = re.sub("[^0-9]", "", m["int"] or "") or "0"
    frac = m["frac"] or ""
    exp_text = m["exp"] or "0"
    if len(exp_text.lstrip("+-")) > 9:  # far beyond every type's range; keeps parse cheap
        exp = _MAX_EXPONENT + 1
    else:
        exp = min(abs(int(exp_text)), _MAX_EXPONENT + 1)
    if exp_text.startswith("-"):
        exp = -exp
    value = Decimal(f"{m['sign'] or ''}{digits}.{frac}e{exp}")
    return _Number(value, m["frac"] is not None, m["exp"] is not None)


def _expected_number(options: ParseOptions) -> str:
    return f'expected a number like {options.number_format} (number_format = "{options.number_format}")'


def _not_a_number(text: str, column: ColumnType, options: ParseOptions) -> Problem:
    message = _expected_number(options)
    other = [f for f in NUMBER_FORMATS if f != options.number_format and _number(text, f)]
    if other:
        message += f'; it reads as a number with number_format = "{other[0]}"'
    elif re.search(r"[%$€£¥₹]", text):
        message += "; currency and percent signs are not stripped: remove them in the sheet"
    return Problem(ProblemCode.NOT_A_NUMBER, column.declared, message)


def parse_integer(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    if n.fraction or n.exponent:
        return Problem(
            ProblemCode.NOT_WHOLE,
            column.declared,
            f"expected a whole number like 1234 for {column.declared} (no decimal "
            "separator or exponent); make the column numeric to keep fractions",
        )
    low, high = column.integer_range
    if not low <= n.value <= high:  # compared as Decimal: a 5,000-digit text stays cheap
        return out_of_range(column, f"expected a whole number from {low} to {high}")
    return int(n.value)


def parse_numeric(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    value = n.value
    if value.is_zero():
        value = value.copy_abs()  # PostgreSQL's numeric has no negative zero
    if column.precision is None:
        exponent = int(value.as_tuple().exponent)
        if value.adjusted() >= _MAX_NUMERIC_INT_DIGITS and not value.is_zero():
            return out_of_range(column, "the number has too many digits")
        if -exponent > _MAX_NUMERIC_FRAC_DIGITS:
            return out_of_range(column, "the number has too many decimals")
        if exponent > 0:  # 1.5e3 → 1500, as PostgreSQL shows it
            value = value.quantize(Decimal(1), context=Context(prec=value.adjusted() + 2))
        return value
    p, s = column.precision, column.scale or 0
    limit = f"expected a number below 10^{p - s} in absolute value (at most {p} digits, {s} after the decimal separator)"
    if not value.is_zero() and value.adjusted() >= p - s:
        return out_of_range(column, limit)
    if value.adjusted() < -s - 1:
        # Below half a unit of the last place: rounds to zero without a huge context.
        return Decimal(0).scaleb(-s) if s > 0 else Decimal(0)
    rounded = value.quantize(
        Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP, context=Context(prec=p + 2)
    )
    if not rounded.is_zero() and rounded.adjusted() >= p - s:
        return out_of_range(column, limit)
    if s < 0:  # 1.23E+4 → 12300, as PostgreSQL shows it
        rounded = rounded.quantize(Decimal(1), context=Context(prec=p - s + 2))
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _float32(x: Fraction, f: float) -> float | None:
    """The float32 nearest ``x`` (``f`` is the float64 nearest), or ``None`` on overflow."""
    try:
        r = struct.unpack("<f", struct.pack("<f", f))[0]
    except OverflowError:
        return None
    if r != f:
        # Rounding x to float64 first can land exactly between two float32s where x was
        # not: decide that tie by x itself, as strtof (which PostgreSQL uses) does.
        o = _neighbour32(r, 1 if f > r else -1)
        if math.isinf(o):
            o = r
        mid = (Fraction(r) + Fraction(o)) / 2
        if Fraction(f) == mid and x != mid and (x > mid) == (o > r):
            r = o
    if r in (float("inf"), float("-inf")):
        return None
    return float(r)


def _neighbour32(r: float, step: int) -> float:
    """The float32 after (``step`` 1) or before (-1) float32 ``r``; may be infinite."""
    bits = struct.unpack("<I", struct.pack("<f", r))[0]
    if r == 0:
        bits, step = (0x80000000, 1) if step < 0 else (0, 1)
    elif r < 0:
        step = -step
    try:
        return float(struct.unpack("<f", struct.pack("<I", bits + step))[0])
    except struct.error:
        return r


def _shortest32(r: float) -> float:
    """The shortest decimal strictly nearer to float32 ``r`` than to its neighbours (the
    nearest such), as a float: what PostgreSQL prints for a ``real`` (its Ryu does not take
    a tie as reading back), so what reading the column back gives."""
    exact = Fraction(r)
    below, above = _neighbour32(r, -1), _neighbour32(r, 1)
    if not math.isfinite(above):  # at the largest float32 the next step would be as wide
        above = float(2 * exact - Fraction(below))
    if not math.isfinite(below):
        below = float(2 * exact - Fraction(above))
    low = (exact + Fraction(below)) / 2
    high = (exact + Fraction(above)) / 2

    def inside(c: Decimal) -> bool:
        x = Fraction(c)
        return low < x < high

    for digits in range(1, 10):
        base = Decimal(f"{r:.{digits - 1}e}")
        step = Decimal(1).scaleb(base.adjusted() - digits + 1)
        fits = [c for c in (base, base - step, base + step) if inside(c)]
        if fits:
            return float(min(fits, key=lambda c: abs(Fraction(c) - exact)))
    return r


def parse_real(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    if n.value.is_zero():
        return float(n.value)
    f = float(n.value)
    exact = Fraction(n.value) if abs(n.value.adjusted()) < 400 else None
    if column.bits == 32:
        r = _float32(exact, f) if exact is not None and math.isfinite(f) else None
        value = None if r is None else _shortest32(r)
    else:
        value = f if math.isfinite(f) else None
    if value is None or (value == 0 and not n.value.is_zero()):
        return out_of_range(column, "the number is too large or too small")
    return value
