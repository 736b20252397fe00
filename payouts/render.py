"""Render results as the output contract's CSV tables (spec section 8): strings, sorted, exact.

Every function returns a DataFrame of strings in contract column order; `to_csv_bytes` turns one
into the file's exact bytes (UTF-8, header, comma, `\\n`). No float ever reaches a cell: USD via
`format_usd`, tokens via `format_units`, display-only ratios (score, uptime) via exact rationals
rounded half-even to a fixed number of places.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import pandas as pd

from payouts.engine import UPTIME_SCALE, Result
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
OPERATOR_COLUMNS = (
    "period",
    "operator_address",
    "payout_address",
    "eligible_nodes",
    "base_usd",
    "multi_node_bonus_usd",
    "role_bonus_usd",
    "bonus_cap_reduction_usd",
    "rank_reward_usd",
    "total_usd",
)
TRANSFER_COLUMNS = ("period", "batch", "payout_address", "total_usd", "amount_cor", "amount_wei")
REJECTED_COLUMNS = ("source_row", "node_address", "column", "check", "value", "source_file")
PRIOR_COLUMNS = ("node_address", "first_eligible_period")

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
    return values.map(lambda v: "" if pd.isna(v) else str(int(v))).astype(str)


def node_table(result: Result, period: Period) -> pd.DataFrame:
    n = result.nodes
    days = period.days
    out = pd.DataFrame(
        {
            "period": str(period),
            "node_address": n["node_address"].astype(str),
            "operator_address": n["operator_address"].map(lambda v: "" if pd.isna(v) else str(v)),
            "eligible": _bool(n["eligible"]),
            "reason": n["reason"].astype(str),
            "rank": _opt_int(n["rank"]),
            "score": n["score"].map(
                lambda v: fraction_str(v, SCORE_PLACES) if isinstance(v, Fraction) else ""
            ),
            "uptime": n["uptime_nano"].map(
                lambda v: fraction_str(Fraction(int(v), days * UPTIME_SCALE), UPTIME_PLACES)
            ),
            "tasks_completed": n["tasks_completed"].astype("int64").astype(str),
            "is_new": _bool(n["is_new"]),
            "base_usd": n["base_usd"].map(format_usd),
            "multi_node_bonus_usd": n["multi_node_bonus_usd"].map(format_usd),
            "rank_slot": _opt_int(n["rank_slot"]),
            "rank_reward_usd": n["rank_reward_usd"].map(format_usd),
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
        out[c] = o[c].map(format_usd)
    return _sorted(out, "operator_address")


def transfer_table(result: Result, period: Period, decimals: int) -> pd.DataFrame:
    t = result.transfers
    out = pd.DataFrame({"period": pd.Series(str(period), index=t.index, dtype=str)})
    out["batch"] = t["batch"].astype(str)
    out["payout_address"] = t["payout_address"].astype(str)
    out["total_usd"] = t["total_usd"].map(format_usd)
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


def _sorted(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    order = frame[column].str.lower().sort_values(kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The exact bytes of a CSV output: UTF-8, header row, comma, `\\n`, minimal quoting."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")
