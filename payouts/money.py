"""Exact money: USD as `decimal.Decimal`, tokens as `int` base units (wei). Never float.

This is the only module that converts between USD and tokens, and it has exactly one rounding:
`usd_to_wei` rounds **down** (floor) to a whole base unit, once per recipient. Everything else is
exact: Decimal arithmetic here runs in a context that *traps* Inexact, so a computation that
would have to round raises instead of silently losing money.
"""

from __future__ import annotations

import decimal
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from payouts.errors import InputError

#: Context for USD arithmetic: wide precision, and any rounding is an error.
EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero])


def exact() -> decimal.Context:
    """A copy of the exact context, for `with decimal.localcontext(exact()):`."""
    return EXACT.copy()


def parse_price(text: str) -> Decimal:
    """Parse the COR/USD price given on the command line: a plain positive decimal."""
    s = text.strip()
    try:
        price = Decimal(s)
    except InvalidOperation:
        raise InputError(
            f"price {text!r} is not a number", fix="pass --price as a plain decimal, e.g. --price 0.0215"
        ) from None
    if not price.is_finite() or price <= 0 or "e" in s.lower():
        raise InputError(
            f"price {text!r} must be a positive plain decimal",
            fix="pass --price as a plain decimal greater than 0, e.g. --price 0.0215",
        )
    return price


def usd_to_wei(total_usd: Decimal, price_usd: Decimal, decimals: int) -> int:
    """floor(total_usd * 10**decimals / price_usd), in exact rational arithmetic.

    The one rounding of the pipeline. Rounding down means the treasury never pays more than the
    USD amount is worth at the stated price; the shortfall is < 1 base unit per recipient.
    """
    if price_usd <= 0:
        raise ValueError("price must be > 0")
    if total_usd < 0:
        raise ValueError("a transfer total cannot be negative")
    # exact integer ratios of both Decimals: floor(u_n/u_d * 10**decimals * p_d/p_n), no Fraction
    u_num, u_den = total_usd.as_integer_ratio()
    p_num, p_den = price_usd.as_integer_ratio()
    return (u_num * 10**decimals * p_den) // (u_den * p_num)


def exact_wei(total_usd: Decimal, price_usd: Decimal, decimals: int) -> Fraction:
    """The unrounded token amount in base units (a Fraction) - used to measure dust."""
    return Fraction(total_usd) * (10**decimals) / Fraction(price_usd)


def format_units(amount: int, decimals: int) -> str:
    """A base-unit integer as an exact token amount in plain notation: 1500000000000000000 -> '1.5'."""
    if amount < 0:
        raise ValueError("negative amount")
    whole, frac = divmod(amount, 10**decimals)
    if frac == 0:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def format_usd(value: Decimal) -> str:
    """USD in plain notation, never rounded: at least 2 decimals, more only when the value has them.

    72.6 -> '72.60', 20 -> '20.00', 1.05 -> '1.05', 0.6615 -> '0.6615'.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    v = value.normalize() if value != 0 else Decimal(0)
    exp = v.as_tuple().exponent
    assert isinstance(exp, int)
    places = max(2, -exp)
    return f"{value:.{places}f}"


def format_decimal(value: Decimal) -> str:
    """Any Decimal in plain notation with trailing zeros removed: '4000', '5123.5'."""
    if value == 0:
        return "0"
    v = value.normalize()
    exp = v.as_tuple().exponent
    assert isinstance(exp, int)
    return f"{v:.{max(0, -exp)}f}"
