"""Pandera models of every output CSV (spec section 8), checked on the rendered strings.

Outputs are validated *after* rendering and *before* anything is written, so a file on disk has
passed its contract: EIP-55 addresses, plain-notation decimals, `true`/`false`, known reasons,
and a few cross-column invariants (eligible <=> no reason, amount_cor == amount_wei / 10^18).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from payouts.addresses import eip55_flags  # one vectorized EIP-55 check (re-exported)
from payouts.engine import REASONS
from payouts.money import format_units

PERIOD = r"\d{4}-(0[1-9]|1[0-2])"
USD = r"\d+\.\d{2,}"
POS_INT = r"[1-9]\d*"
BOOL = r"true|false"


def _match(pattern: str, *, optional: bool = False) -> pa.Check:
    full = f"({pattern})?" if optional else pattern
    return pa.Check(lambda s: s.str.fullmatch(full).fillna(False).astype(bool), name=f"matches {full}")


def _eip55(*, optional: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        # .tolist(), not list(): the same Python values (uniques hold no NA), converted in one
        # call rather than boxed one by one (an Arrow-backed str Index: ~10x faster)
        values = uniques.tolist()
        ok = eip55_flags(values)
        if optional:
            ok |= np.array([u == "" for u in values], dtype=bool)
        flags = np.append(ok, False)  # code -1 (missing) -> the appended False
        return pd.Series(flags[codes], index=s.index)

    return pa.Check(fn, name="eip55" + (" or empty" if optional else ""))


def _col(*checks: pa.Check, unique: bool = False) -> pa.Column:
    return pa.Column(pa.String, checks=list(checks), nullable=False, unique=unique)


def node_rewards_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "period": _col(_match(PERIOD)),
            "node_address": _col(_eip55(), unique=True),
            "operator_address": _col(_eip55(optional=True)),
            "eligible": _col(_match(BOOL)),
            "reason": _col(pa.Check.isin(["", *REASONS])),
            "rank": _col(_match(POS_INT, optional=True)),
            "score": _col(_match(r"[01]\.\d{8}", optional=True)),
            "uptime": _col(_match(r"[01]\.\d{6}")),
            "tasks_completed": _col(_match(r"\d+")),
            "is_new": _col(_match(BOOL)),
            "base_usd": _col(_match(USD)),
            "multi_node_bonus_usd": _col(_match(USD)),
            "rank_slot": _col(_match(POS_INT, optional=True)),
            "rank_reward_usd": _col(_match(USD)),
        },
        checks=[
            pa.Check(
                lambda df: (df["eligible"] == "true") == (df["reason"] == ""), name="eligible_iff_no_reason"
            ),
            pa.Check(lambda df: (df["eligible"] == "true") == (df["rank"] != ""), name="eligible_iff_rank"),
        ],
        strict=True,
        ordered=True,
        name="node_rewards.csv",
    )


def operator_payouts_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "period": _col(_match(PERIOD)),
            "operator_address": _col(_eip55(), unique=True),
            "payout_address": _col(_eip55()),
            "eligible_nodes": _col(_match(r"\d+")),
            "base_usd": _col(_match(USD)),
            "multi_node_bonus_usd": _col(_match(USD)),
            "role_bonus_usd": _col(_match(USD)),
            "bonus_cap_reduction_usd": _col(_match(USD)),
            "rank_reward_usd": _col(_match(USD)),
            "total_usd": _col(_match(USD)),
            "held_reason": _col(pa.Check.isin(["", "payout_is_safe", "payout_is_token", "payout_is_zero"])),
            "payout_address_changed": _col(_match(BOOL)),
            "previous_payout_address": _col(_eip55(optional=True)),
        },
        strict=True,
        ordered=True,
        name="operator_payouts.csv",
    )


def _cor_matches_wei(decimals: int) -> pa.Check:
    def fn(df: pd.DataFrame) -> pd.Series:
        return df["amount_wei"].map(lambda w: format_units(int(w), decimals)) == df["amount_cor"]

    return pa.Check(fn, name="amount_cor == amount_wei / 10^decimals")


def transfers_schema(decimals: int) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "period": _col(_match(PERIOD)),
            "batch": _col(_match(POS_INT)),
            "payout_address": _col(_eip55(), unique=True),
            "total_usd": _col(_match(USD)),
            "amount_cor": _col(_match(r"\d+(\.\d*[1-9])?")),
            "amount_wei": _col(_match(POS_INT)),
        },
        checks=[_cor_matches_wei(decimals)],
        strict=True,
        ordered=True,
        name="transfers.csv",
    )


def rejected_rows_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "source_row": _col(_match(r"[2-9]|[1-9]\d+")),
            "node_address": pa.Column(pa.String),
            "column": _col(pa.Check.str_length(min_value=1)),
            "check": _col(pa.Check.str_length(min_value=1)),
            "value": pa.Column(pa.String),
            "source_file": _col(pa.Check.str_length(min_value=1)),
        },
        strict=True,
        ordered=True,
        name="rejected_rows.csv",
    )


def previous_payouts_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {"operator_address": _col(_eip55(), unique=True), "payout_address": _col(_eip55())},
        strict=True,
        ordered=True,
        name="previous_payout_addresses.csv",
    )


def prior_eligibility_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "node_address": _col(_eip55(), unique=True),
            "first_eligible_period": _col(_match(PERIOD)),
        },
        strict=True,
        ordered=True,
        name="prior_eligibility.csv",
    )


class OutputInvalid(Exception):
    """An output failed its contract: a bug in the pipeline, never written (exit 1)."""


def validate_output(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> None:
    """Validate a rendered output; raise OutputInvalid with the first failures."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases.head(5).to_dict("records")
        raise OutputInvalid(f"{schema.name} failed its contract: {cases}") from None


__all__ = [
    "OutputInvalid",
    "eip55_flags",
    "node_rewards_schema",
    "operator_payouts_schema",
    "rejected_rows_schema",
    "transfers_schema",
    "validate_output",
]
