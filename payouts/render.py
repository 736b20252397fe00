"""Render results as the output contract's CSV tables (spec section 8): strings, sorted, exact.

Every function returns a DataFrame of strings in contract column order; `to_csv_bytes` turns one
into the file's exact bytes (UTF-8, header, comma, `\\n`). No float ever reaches a cell: USD via
`format_usd`, tokens via `format_units`, display-only ratios (score, uptime) via exact rationals
rounded half-even to a fixed number of places.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from payouts.engine import OPERATOR_AMOUNT_COLUMNS, UPTIME_SCALE, Result
from payouts.errors import Finding
from payouts.money import format_units, format_usd
from payouts.period import Period

NODE_COLUMNS = (
    "period",
    "node_address",
    "operator_address",
    "eligible",
    "reason",
    "rank",
    "score",
    "uptime",
    "tasks_completed",
    "is_new",
    "base_usd",
    "multi_node_bonus_usd",
    "rank_slot",
    "rank_reward_usd",
)
OPERATOR_COLUMNS = ("period", *OPERATOR_AMOUNT_COLUMNS)
TRANSFER_COLUMNS = ("period", "batch", "payout_address", "total_usd", "amount_cor", "amount_wei")
REJECTED_COLUMNS = ("source_row", "node_address", "column", "check", "value", "source_file")
PRIOR_COLUMNS = ("node_address", "first_eligible_period")
PREVIOUS_PAYOUT_COLUMNS = ("operator_address", "payout_address")

SCORE_PLACES = 8
UPTIME_PLACES = 6


def fraction_str(value: Fraction, places: int) -> str:
    """A non-negative exact rational as a fixed-point string, rounded half-even at `places` decimals."""
    scaled = value * 10**places
    whole, rem = divmod(scaled.numerator, scaled.denominator)
    if 2 * rem > scaled.denominator or (2 * rem == scaled.denominator and whole % 2 == 1):
        whole += 1
    return f"{Decimal(whole).scaleb(-places):.{places}f}"


def _bool(values: pd.Series) -> pd.Series:
    return values.map({True: "true", False: "false"}).astype(str)


def _opt_int(values: pd.Series) -> pd.Series:
    """`str(int(v))`, or "" where missing (vectorized: an Int64 column of 100k ranks)."""
    present = values.notna().to_numpy()
    out = np.full(len(values), "", dtype=object)
    out[present] = values[present].astype("int64").astype(str).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=str)


def _by_value(values: pd.Series, fn: Callable[[Any], str]) -> pd.Series:
    """`values.map(fn)` (as str), calling `fn` once per distinct value.

    For a `fn` whose result depends on the type and value only (int, Fraction): used when the
    non-missing cells all have one type; missing cells keep the element-wise call. At network
    scale a column of 100k cells has far fewer distinct values.
    """
    if values.dtype.kind not in "iu" and values.dropna().map(type).nunique() > 1:
        return values.map(fn).astype(str)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([*(fn(u) for u in uniques), ""], dtype=object)
    out = mapped[codes]  # code -1 (missing) picks the placeholder, replaced below
    missing = codes < 0
    if missing.any():
        out[missing] = values[missing].map(fn).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=str)


_INT64_HEADROOM = 2**62  # products below this cannot overflow int64 (sums of two stay below 2**63)


def _fixed_point(num: np.ndarray, den: np.ndarray, places: int) -> np.ndarray | None:
    """`fraction_str(Fraction(n, d), places)` for int64 arrays (n >= 0, d > 0), vectorized.

    Same rounding (half-even on the exact remainder; the comparisons do not depend on whether
    the fraction is reduced) and layout ("<int>.<places digits>"). None when int64 could overflow.
    """
    scale = 10**places
    if len(num) == 0:
        return np.array([], dtype=object)
    if num.min() < 0 or den.min() <= 0:
        return None
    if int(num.max()) * scale >= _INT64_HEADROOM or 2 * int(den.max()) >= _INT64_HEADROOM:
        return None
    whole, rem = np.divmod(num * scale, den)
    twice = 2 * rem
    whole += (twice > den) | ((twice == den) & (whole % 2 == 1))
    ip, fp = np.divmod(whole, scale)
    text = pd.Series(ip).astype(str) + "." + pd.Series(fp).astype(str).str.zfill(places)
    return text.to_numpy(dtype=object)


def _fraction_column(values: pd.Series, places: int) -> pd.Series:
    """`values.map(lambda v: fraction_str(v, places) if isinstance(v, Fraction) else "")`, vectorized
    over the cells that are exactly Fractions (the others keep the element-wise call)."""

    def one(v: object) -> str:
        return fraction_str(v, places) if isinstance(v, Fraction) else ""

    is_frac = (values.map(type) == Fraction).to_numpy(dtype=bool)
    fracs = values.to_numpy(dtype=object)[is_frac]
    try:
        num = np.fromiter((f.numerator for f in fracs), dtype=np.int64, count=len(fracs))
        den = np.fromiter((f.denominator for f in fracs), dtype=np.int64, count=len(fracs))
    except OverflowError:
        return _by_value(values, one)
    text = _fixed_point(num, den, places)
    if text is None:
        return _by_value(values, one)
    out = np.empty(len(values), dtype=object)
    out[is_frac] = text
    if not is_frac.all():
        out[~is_frac] = values[~is_frac].map(one).to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=str)


def _uptime_column(uptime_nano: pd.Series, days: int) -> pd.Series:
    """`fraction_str(Fraction(v, days * UPTIME_SCALE), UPTIME_PLACES)` per cell, vectorized."""
    v = uptime_nano.to_numpy(dtype=np.int64)
    text = _fixed_point(v, np.full(len(v), days * UPTIME_SCALE, dtype=np.int64), UPTIME_PLACES)
    if text is None:
        return _by_value(
            uptime_nano, lambda x: fraction_str(Fraction(int(x), days * UPTIME_SCALE), UPTIME_PLACES)
        )
    return pd.Series(text, index=uptime_nano.index, dtype=str)


def _usd(values: pd.Series) -> pd.Series:
    """`values.map(format_usd)` (as str), formatting each distinct Decimal once.

    Distinct by exact representation (`str(Decimal)` keeps sign and exponent, and `Decimal(str(d))`
    is `d` again), so e.g. Decimal("-0") and Decimal("0") never share a result.
    """
    if pd.api.types.infer_dtype(values, skipna=False) != "decimal":
        return values.map(format_usd).astype(str)
    codes, uniques = pd.factorize(values.map(str))
    mapped = np.array([format_usd(Decimal(u)) for u in uniques], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=str)


def node_table(result: Result, period: Period) -> pd.DataFrame:
    n = result.nodes
    days = period.days
    op = n["operator_address"]
    out = pd.DataFrame(
        {
            "period": str(period),
            "node_address": n["node_address"].astype(str),
            "operator_address": op.where(op.notna(), "").astype(str),
            "eligible": _bool(n["eligible"]),
            "reason": n["reason"].astype(str),
            "rank": _opt_int(n["rank"]),
            "score": _fraction_column(n["score"], SCORE_PLACES),
            "uptime": _uptime_column(n["uptime_nano"], days),
            "tasks_completed": n["tasks_completed"].astype("int64").astype(str),
            "is_new": _bool(n["is_new"]),
            "base_usd": _usd(n["base_usd"]),
            "multi_node_bonus_usd": _usd(n["multi_node_bonus_usd"]),
            "rank_slot": _opt_int(n["rank_slot"]),
            "rank_reward_usd": _usd(n["rank_reward_usd"]),
        },
        columns=list(NODE_COLUMNS),
    )
    return _sorted(out, "node_address")


def operator_table(result: Result, period: Period) -> pd.DataFrame:
    o = result.operators
    out = pd.DataFrame({"period": pd.Series(str(period), index=o.index)})
    out["operator_address"] = o["operator_address"].astype(str)
    out["payout_address"] = o["payout_address"].astype(str)
    out["eligible_nodes"] = o["eligible_nodes"].astype(str)
    for c in OPERATOR_COLUMNS[4:]:
        out[c] = _usd(o[c])
    # added after the contract's columns (spec 8 allows it): address hygiene
    out["held_reason"] = o["held_reason"].astype(str)
    out["payout_address_changed"] = _bool(o["payout_address_changed"])
    out["previous_payout_address"] = o["previous_payout_address"].astype(str)
    return _sorted(out.astype(str), "operator_address")


def transfer_table(result: Result, period: Period, decimals: int) -> pd.DataFrame:
    t = result.transfers
    out = pd.DataFrame({"period": pd.Series(str(period), index=t.index, dtype=str)})
    out["batch"] = t["batch"].astype(str)
    out["payout_address"] = t["payout_address"].astype(str)
    out["total_usd"] = _usd(t["total_usd"])
    out["amount_cor"] = t["amount_wei"].map(lambda w: format_units(int(w), decimals))
    out["amount_wei"] = t["amount_wei"].map(lambda w: str(int(w)))
    return out.astype(str).reset_index(drop=True)  # already in payout-address order (spec 7)


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _safe_cell(value: str) -> str:
    """Neutralize spreadsheet formulas in echoed input values (CSV injection) with a leading '."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def rejected_table(findings: Sequence[Finding]) -> pd.DataFrame:
    ordered = sorted(findings, key=lambda f: (f.source_file, f.source_row, f.column, f.check))
    return pd.DataFrame(
        [
            (
                str(f.source_row),
                _safe_cell(f.node_address),
                f.column,
                f.check,
                _safe_cell(f.value),
                f.source_file,
            )
            for f in ordered
        ],
        columns=list(REJECTED_COLUMNS),
        dtype=str,
    )


def prior_table(prior: Mapping[str, str]) -> pd.DataFrame:
    """prior_eligibility.csv: the nodes of this period that were eligible in an earlier one (not new).

    The ledger (or --history) input of the new-node rule, written out so the period can be
    recomputed - and audited - without the ledger.
    """
    frame = pd.DataFrame(sorted(prior.items()), columns=list(PRIOR_COLUMNS), dtype=str)
    return _sorted(frame, "node_address") if len(frame) else frame


def previous_payout_table(previous: Mapping[str, str]) -> pd.DataFrame:
    """previous_payout_addresses.csv: each operator's payout address in its last paid period
    (from the ledger) - the input of the payout_address_changed flag, kept for verify."""
    frame = pd.DataFrame(sorted(previous.items()), columns=list(PREVIOUS_PAYOUT_COLUMNS), dtype=str)
    return _sorted(frame, "operator_address") if len(frame) else frame


def _sorted(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    order = frame[column].str.lower().sort_values(kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The exact bytes of a CSV output: UTF-8, header row, comma, `\\n`, minimal quoting."""
    fast = _csv_bytes_unquoted(frame)
    if fast is not None:
        return fast
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def _csv_bytes_unquoted(frame: pd.DataFrame) -> bytes | None:
    """`to_csv_bytes` through Arrow's CSV writer when no cell needs quoting, else None.

    The same bytes as pandas' minimal quoting in exactly that case: at least one row and two
    columns (a lone empty field would be quoted), every cell a non-missing str, and no header or
    cell containing a comma, a double quote, CR or LF. About 20x faster on 100k rows.
    """
    names = [str(c) for c in frame.columns]
    if len(frame) == 0 or len(names) < 2 or len(set(names)) != len(names):
        return None
    if any(_NEEDS_QUOTES.search(c) for c in names) or list(frame.columns) != names:
        return None
    columns = []
    for c in frame.columns:
        col = frame[c]
        if not isinstance(col.dtype, pd.StringDtype) or col.hasnans:
            return None
        if col.str.contains(_NEEDS_QUOTES.pattern, regex=True).any():
            return None
        columns.append(pa.array(col, type=pa.large_string()))
    buf = io.BytesIO()
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", eol="\n")
    pa_csv.write_csv(pa.table(columns, names=names), buf, options)
    return buf.getvalue()
