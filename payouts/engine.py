"""The reward engine: one period's contest rules, as pure functions over DataFrames.

No I/O, no clock, no environment, no Prefect. Inputs are typed, validated frames (see
`schemas.inputs`) and a `Policy`; outputs are frames and a `Totals` record. Every section number
below refers to `shared/spec/reward-rules.md`. Amounts are `Decimal` (USD) and `int` (wei).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from payouts.errors import InputError
from payouts.money import exact, exact_wei, format_usd, usd_to_wei
from payouts.period import Period
from payouts.policy import LOWER_IS_BETTER, Policy

UPTIME_SCALE = 10**9  # uptime_ratio arrives as integer nano-units (schemas.inputs.UPTIME_SCALE)
RATIO_SCALE = 10**9  # response_rate, likewise
THROUGHPUT_SCALE = 10**6  # throughput_tph in micro-units

#: Eligibility reasons in the spec's order (section 4); the first that applies is the reason.
REASONS: tuple[str, ...] = (
    "invalid_data",
    "unknown_operator",
    "conflicting_operator",
    "disqualified",
    "insufficient_stake",
    "low_uptime",
    "no_tasks",
    "over_node_cap",
)
STATES = ("create", "prepare", "precommit", "commit")
ZERO = Decimal(0)


class BudgetExceeded(InputError):
    """The period's totals exceed the policy's monthly budget (section 6): nothing is written."""


@dataclass(frozen=True)
class Inputs:
    """Everything one period's computation depends on."""

    period: Period
    # valid metrics rows, typed (schemas.inputs.ParsedMetrics.rows); the address columns are
    # "str" or Categorical of "str" (validation gives Categoricals: see `aggregate`)
    rows: pd.DataFrame
    held: pd.DataFrame  # node_address, operator_address of nodes with a rejected row
    registry: pd.DataFrame  # valid registry rows, typed (schemas.inputs.ParsedRegistry.operators)
    held_operators: frozenset[str]  # operators whose registry row was rejected
    previously_eligible: frozenset[str]  # nodes eligible in an earlier period (not new)
    price_usd: Decimal
    policy: Policy
    # payout addresses that must never receive a transfer (lowercase -> reason): the Safe, the token
    blocked_payouts: Mapping[str, str] = field(default_factory=dict)
    # operator -> the payout address of its last paid period (ledger), to flag a change
    previous_payouts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Totals:
    nodes: int
    eligible_nodes: int
    held_nodes: int
    held_by_reason: tuple[tuple[str, int], ...]
    operators: int
    total_usd: Decimal
    transfers: int
    total_wei: int
    dust_wei: int
    zero_amount_recipients: int
    held_operators: int = 0  # operators owed > 0 whose payout address is blocked (not paid)
    held_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class Result:
    nodes: pd.DataFrame
    operators: pd.DataFrame
    transfers: pd.DataFrame
    totals: Totals


# ---------------------------------------------------------------------------------------------
# Section 3: per-node aggregates


_SUM_COLUMNS = (
    "uptime_nano",
    "response_nano",
    "throughput_micro",
    "tasks_completed",
    "tasks_accurate",
    *(f"sm_{s}_{k}" for s in STATES for k in ("ok", "total")),
)
_LAST_COLUMNS = ("operator_address", "stake_pool", "stake_cor")
#: One operator's amounts (section 6), in the order of operator_payouts.csv (after `period`).
OPERATOR_AMOUNT_COLUMNS = (
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


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-node aggregates over the valid rows (section 3), indexed by node_address (sorted).

    Vectorized over integer node codes (3.1M rows at network scale): the node addresses are
    factorized once, in sorted order (the order of `groupby(sort=True)`), or read off the codes
    of a Categorical column (`_sorted_codes`), and the rows are put in (node, date) order, as a
    stable `lexsort` orders them (`_node_date_order`), so each node is one contiguous run. Integer
    sums are exact (int64); "last" is the row with the latest date.
    """
    if len(rows) == 0:
        return _aggregate_grouped(_plain_addresses(rows))
    sorted_codes = _sorted_codes(rows["node_address"])
    if sorted_codes is None:
        rows = _plain_addresses(rows)
        codes, uniques = pd.factorize(rows["node_address"], sort=True)
    else:
        codes, uniques = sorted_codes
    if (codes < 0).any():  # a missing node address (never in validated rows)
        return _aggregate_grouped(rows)
    dates = rows["date"].to_numpy()
    day = dates.astype("int64")  # datetime64 -> ticks; order-preserving
    order = _node_date_order(codes, dates, len(uniques))
    sc = codes[order]
    boundary = np.empty(len(sc), dtype=bool)
    boundary[0] = True
    np.not_equal(sc[1:], sc[:-1], out=boundary[1:])
    starts = np.flatnonzero(boundary)
    ends = np.append(starts[1:], len(sc)) - 1
    index = pd.Index(uniques, name="node_address")

    # n_days: distinct dates per node (NaT not counted, as nunique)
    sday = day[order]
    new_day = boundary.copy()
    new_day[1:] |= sday[1:] != sday[:-1]
    valid_day = ~np.isnat(rows["date"].to_numpy()[order])
    n_days = np.bincount(sc[new_day & valid_day], minlength=len(uniques)).astype("int64")
    n_rows = np.diff(np.append(starts, len(sc))).astype("int64")
    by_code = rows[[*_SUM_COLUMNS, "ping_ms", "global_ping_ms"]].groupby(codes, sort=True)
    summed = by_code[list(_SUM_COLUMNS)].sum()  # int64, exact
    sums = {c: summed[c].to_numpy() for c in _SUM_COLUMNS}
    med = by_code[["ping_ms", "global_ping_ms"]].median()
    agg = pd.DataFrame(
        {
            "n_days": n_days,
            "uptime_nano": sums["uptime_nano"],
            "response_nano": sums["response_nano"],
            "throughput_micro": sums["throughput_micro"],
            "n_rows": n_rows,
            "ping_ms": med["ping_ms"].to_numpy(),
            "global_ping_ms": med["global_ping_ms"].to_numpy(),
            "tasks_completed": sums["tasks_completed"],
            "tasks_accurate": sums["tasks_accurate"],
            "n_operators": _distinct_per_group(rows["operator_address"], order, starts, len(uniques)),
        },
        index=index,
    )
    _derived(agg, {c: sums[c] for c in _SUM_COLUMNS if c.startswith("sm_")})
    last_cols = rows[list(_LAST_COLUMNS)]
    last = last_cols.iloc[order[ends]].set_axis(index)  # each node's latest row
    if last.isna().to_numpy().any():  # `last` skips a missing value: let pandas find the one before
        last = last_cols.iloc[order].groupby(sc, sort=True).last()
        last.index = index
    return agg.join(_plain_addresses(last))


#: datetime64 units whose ticks divide a day exactly: (unit, count) -> ticks per day
_TICKS_PER_DAY = {
    ("D", 1): 1,
    ("s", 1): 86_400,
    ("ms", 1): 86_400_000,
    ("us", 1): 86_400_000_000,
    ("ns", 1): 86_400_000_000_000,
}


def _node_date_order(codes: np.ndarray, dates: np.ndarray, n_codes: int) -> np.ndarray:
    """Row positions in (node code, date) order: ``np.lexsort((dates, codes))`` (stable).

    Validated rows hold each (node, date) once and their dates are whole days of one month, so
    the key ``code * days + day`` is unique and small: the order is a counting sort over it
    (a few linear numpy passes, about 10x faster than lexsort on 3M rows). A repeated key, a
    missing date, a time of day or a wide date range falls back to lexsort itself, so the result
    is always lexsort's. Pinned to lexsort by tests."""
    if not np.issubdtype(dates.dtype, np.datetime64):
        return np.lexsort((dates.astype("int64"), codes))
    ticks = dates.view(np.int64)  # the same ticks as astype, without a copy
    if len(ticks) == 0 or np.isnat(dates).any():
        return np.lexsort((ticks, codes))
    per_day = _TICKS_PER_DAY.get(np.datetime_data(dates.dtype))
    offset = ticks - ticks.min()
    if per_day is None or (offset % per_day).any():  # another unit, or a time of day
        return np.lexsort((ticks, codes))
    day = offset // per_day
    days = int(day.max()) + 1
    span = n_codes * days
    if span > 4 * len(ticks) + 1024:
        return np.lexsort((ticks, codes))
    key = codes.astype(np.int64) * days + day
    present = np.zeros(span, dtype=bool)
    present[key] = True
    if int(np.count_nonzero(present)) != len(key):  # a repeated (node, day): keep lexsort's ties
        return np.lexsort((ticks, codes))
    rank = np.cumsum(present, dtype=np.int64) - 1
    order = np.empty(len(key), dtype=np.intp)
    order[rank[key]] = np.arange(len(key), dtype=np.intp)
    return order


def _sorted_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """`pd.factorize(column, sort=True)` read off a Categorical column without touching its
    strings (validation gives the rows' addresses as one: `schemas.inputs._address_column`), when
    its categories are unique, sorted and all used and no value is missing - exactly the case in
    which the categorical codes are the factorize codes. None otherwise (the caller factorizes)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return None
    categories = column.cat.categories
    codes = column.cat.codes.to_numpy()
    if (
        len(codes) == 0
        or codes.min() < 0
        or not categories.is_unique
        or not categories.is_monotonic_increasing
        or np.bincount(codes, minlength=len(categories)).min() == 0
    ):
        return None
    return codes.astype(np.intp), categories


def _plain_addresses(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with Categorical address columns turned into plain "str" columns (same values)."""
    cat = [
        c
        for c in ("node_address", "operator_address")
        if c in frame and isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    if not cat:
        return frame
    return frame.assign(**{c: frame[c].astype("str") for c in cat})


def _distinct_per_group(values: pd.Series, order: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """`nunique` per group of the rows in `order` (groups start at `starts`; missing not counted)."""
    vcodes, _ = pd.factorize(values)
    sv = vcodes[order]
    lo = np.minimum.reduceat(sv, starts)
    hi = np.maximum.reduceat(sv, starts)
    out = np.where(lo == hi, (lo >= 0).astype("int64"), 0)
    mixed = np.flatnonzero(lo != hi)
    if mixed.size:  # rare: a node whose rows name several operators
        bounds = np.append(starts, len(sv))
        for g in mixed.tolist():
            seg = sv[bounds[g] : bounds[g + 1]]
            out[g] = np.unique(seg[seg >= 0]).size
    return out.astype("int64")


def _derived(agg: pd.DataFrame, sm_sums: dict[str, np.ndarray]) -> None:
    """Means and ratios from the exact sums (columns added to `agg` in place)."""
    # Means as exact integer sums over the row count: equal means compare equal (a float running
    # mean of 31 x 0.99 and of 28 x 0.99 differ in the last bit). Sums stay below 2**53, so the
    # one float division is correctly rounded and equal rationals give equal floats.
    n_rows = agg["n_rows"].to_numpy(dtype="float64")
    agg["response_rate"] = agg["response_nano"].to_numpy(dtype="float64") / n_rows / RATIO_SCALE
    agg["throughput"] = agg["throughput_micro"].to_numpy(dtype="float64") / n_rows / THROUGHPUT_SCALE
    ratios = np.zeros((len(agg), len(STATES)))
    for i, s in enumerate(STATES):
        ok = np.asarray(sm_sums[f"sm_{s}_ok"], dtype="float64")
        total = np.asarray(sm_sums[f"sm_{s}_total"], dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[:, i] = np.where(total > 0, ok / np.where(total > 0, total, 1), 0.0)
    # summed in sorted order, so the same four ratios in any states give the same float
    agg["sm_quality"] = np.sort(ratios, axis=1).sum(axis=1) / len(STATES)
    comp = agg["tasks_completed"].to_numpy(dtype="float64")
    acc = agg["tasks_accurate"].to_numpy(dtype="float64")
    agg["accuracy"] = np.where(comp > 0, acc / np.where(comp > 0, comp, 1), 0.0)


def _aggregate_grouped(rows: pd.DataFrame) -> pd.DataFrame:
    """`aggregate` with pandas groupby on the address strings (empty input, missing addresses)."""
    rows = rows.sort_values(["node_address", "date"], kind="mergesort")
    g = rows.groupby("node_address", sort=True)
    agg = pd.DataFrame(
        {
            "n_days": g["date"].nunique(),
            "uptime_nano": g["uptime_nano"].sum(),
            "response_nano": g["response_nano"].sum(),
            "throughput_micro": g["throughput_micro"].sum(),
            "n_rows": g["date"].size(),
            "ping_ms": g["ping_ms"].median(),
            "global_ping_ms": g["global_ping_ms"].median(),
            "tasks_completed": g["tasks_completed"].sum(),
            "tasks_accurate": g["tasks_accurate"].sum(),
            "n_operators": g["operator_address"].nunique(),
        }
    )
    sums = g[[f"sm_{s}_{k}" for s in STATES for k in ("ok", "total")]].sum()
    _derived(agg, {c: sums[c].to_numpy() for c in sums.columns})
    last = g[list(_LAST_COLUMNS)].last()  # latest date (rows sorted by date)
    return agg.join(last)


# ---------------------------------------------------------------------------------------------
# Section 5: score and order


def _weight_integers(policy: Policy) -> tuple[dict[str, int], int]:
    """Weights scaled to integers (exact), and their sum."""
    places = max(max(0, -int(w.as_tuple().exponent)) for _, w in policy.weights)  # type: ignore[arg-type]
    scale = 10**places
    ints = {m: int(w * scale) for m, w in policy.weights}
    return ints, sum(ints.values())


def score(passed: pd.DataFrame, policy: Policy) -> tuple[pd.Series, pd.Series]:
    """Exact score of the nodes that passed checks 1-7.

    Percentile p = rank / n (ties share the average rank, as pandas `rank(pct=True)`). Average
    ranks are multiples of 1/2, so the weighted sum sum(w * 2 * rank) is an exact integer `key`;
    score = key / (2 * n * sum(w)). Ordering uses the integer key, never a float, so a tie in the
    rules is a tie in the code.
    """
    n = len(passed)
    weights, wsum = _weight_integers(policy)
    key = np.zeros(n, dtype="int64")
    for metric, w in weights.items():
        if w == 0:
            continue
        values = passed[metric].astype("float64")
        if metric in LOWER_IS_BETTER:
            values = values.fillna(np.inf)  # not measured -> worst
        ranks = values.rank(method="average", ascending=metric not in LOWER_IS_BETTER)
        key += w * np.rint(ranks.to_numpy() * 2).astype("int64")
    key_s = pd.Series(key, index=passed.index)
    denominator = 2 * n * wsum
    return key_s, pd.Series([Fraction(int(k), denominator) for k in key], index=passed.index, dtype=object)


def _order(frame: pd.DataFrame) -> pd.Index:
    """Section 5 order: score desc, tasks desc, uptime desc, node_address (lowercase) asc."""
    tmp = pd.DataFrame(
        {
            "key": frame["score_key"].to_numpy(),
            "tasks": frame["tasks_completed"].to_numpy(),
            "uptime": frame["uptime_nano"].to_numpy(),
            "lower": frame.index.str.lower(),
        },
        index=frame.index,
    )
    return tmp.sort_values(
        ["key", "tasks", "uptime", "lower"], ascending=[False, False, False, True], kind="mergesort"
    ).index


# ---------------------------------------------------------------------------------------------
# Section 6: rank slots


def assign_slots(ranked: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Fill rank slots tier by tier (section 6).

    `ranked` holds the eligible nodes in rank order with an `operator_address` column. Within a
    tier, the greedy "best-ranked node whose operator holds fewer than the tier maximum" equals
    "nodes in rank order, keeping each operator's first `max` candidates, then the first `slots`
    of those" - which is what this computes, vectorized. Returns slot and USD per node (NA / 0).
    """
    slot = pd.Series(pd.NA, index=ranked.index, dtype="Int64")
    for tier in policy.rank_tiers:
        free = ranked[slot.isna().to_numpy()]
        if tier.max_per_operator > 0:
            nth = free.groupby("operator_address", sort=False).cumcount()
            free = free[(nth < tier.max_per_operator).to_numpy()]
        taken = free.index[: tier.slots]
        slot.loc[taken] = np.arange(tier.first, tier.first + len(taken))
    usd_by_slot = {s: t.usd for t in policy.rank_tiers for s in range(t.first, t.last + 1)}
    reward = np.full(len(slot), ZERO, dtype=object)
    filled = slot.notna().to_numpy()
    reward[filled] = [usd_by_slot[int(s)] for s in slot[filled]]  # at most the tiers' slots
    reward = pd.Series(reward, index=slot.index, dtype=object)
    return pd.DataFrame({"rank_slot": slot, "rank_reward_usd": reward})


# ---------------------------------------------------------------------------------------------


def _obj(values: Iterable[object], index: pd.Index) -> pd.Series:
    return pd.Series(list(values), index=index, dtype=object)


def compute(inp: Inputs) -> Result:
    """Compute one period: node rewards, operator payouts and transfers."""
    with decimal.localcontext(exact()):
        return _compute(inp)


def _compute(inp: Inputs) -> Result:
    policy, period = inp.policy, inp.period
    agg = aggregate(inp.rows)

    # Node universe: every node seen, including those whose every row was rejected.
    held_nodes = pd.Index(inp.held["node_address"].astype(str))
    only_held = inp.held[~inp.held["node_address"].isin(agg.index)].set_index("node_address")
    nodes = pd.concat([agg, only_held[["operator_address"]]], axis=0).sort_index()
    nodes.index.name = "node_address"
    op_from_held = inp.held.set_index("node_address")["operator_address"]
    # a held node's operator: from its valid rows if any, else from its rejected rows
    nodes["operator_address"] = nodes["operator_address"].fillna(op_from_held.reindex(nodes.index))

    reg = inp.registry.set_index("operator_address")
    known = set(reg.index)
    # unknown_operator: any operator its rows name is not in the (valid) registry
    # A node naming one operator names its latest row's; only nodes naming several (rare) need
    # their rows looked at.
    several = agg.index[(agg["n_operators"] > 1).to_numpy()]
    unknown = set(agg.index[(agg["n_operators"] == 1).to_numpy() & ~agg["operator_address"].isin(known)])
    if len(several):
        mixed = inp.rows[inp.rows["node_address"].isin(several)]
        unknown |= set(mixed.loc[~mixed["operator_address"].isin(known), "node_address"].unique())
    all_known = pd.Series(~nodes.index.isin(sorted(unknown)), index=nodes.index)

    op = nodes["operator_address"]
    in_reg = op.isin(known)
    preapproved = op.map(reg["preapproved"]).fillna(False).astype(bool)
    disqualified = op.map(reg["disqualified"]).fillna(False).astype(bool)
    stake_ok = (nodes["stake_pool"] == policy.required_stake_pool) & nodes["stake_cor"].map(
        lambda v: v is not None and not (isinstance(v, float) and np.isnan(v)) and v >= policy.min_stake_cor
    ).astype(bool)
    uptime_threshold = int(
        (policy.min_uptime * period.days * UPTIME_SCALE).to_integral_value(decimal.ROUND_CEILING)
    )

    conditions = [
        nodes.index.isin(held_nodes) | op.isin(inp.held_operators).to_numpy(),
        (~all_known | ~in_reg).to_numpy(),
        (nodes["n_operators"].fillna(1) > 1).to_numpy(),
        disqualified.to_numpy(),
        (~preapproved & ~stake_ok).to_numpy(),
        (nodes["uptime_nano"].fillna(0) < uptime_threshold).to_numpy(),
        (nodes["tasks_completed"].fillna(0) < policy.min_tasks).to_numpy(),
    ]
    nodes["reason"] = np.select(conditions, list(REASONS[:7]), default="")

    # Section 5: score over the nodes that passed 1-7, then the node cap, then rank.
    passed = nodes[nodes["reason"] == ""].copy()
    passed["uptime"] = passed["uptime_nano"]
    passed["bug_points"] = passed["operator_address"].map(reg["bug_points"]).astype("int64")
    key, exact_score = score(passed, policy)
    passed["score_key"] = key
    order = _order(passed)
    ranked = passed.loc[order]
    nth = ranked.groupby("operator_address", sort=False).cumcount()
    capped = ranked.index[(nth >= policy.max_nodes_per_operator).to_numpy()]
    nodes.loc[capped, "reason"] = "over_node_cap"
    ranked = ranked.drop(capped)
    nodes["eligible"] = nodes["reason"] == ""
    nodes["rank"] = pd.Series(pd.NA, index=nodes.index, dtype="Int64")
    nodes.loc[ranked.index, "rank"] = np.arange(1, len(ranked) + 1)
    nodes["score"] = pd.Series(None, index=nodes.index, dtype=object)
    nodes.loc[passed.index, "score"] = exact_score

    slots = assign_slots(ranked, policy)
    nodes["rank_slot"] = slots["rank_slot"].reindex(nodes.index).astype("Int64")
    nodes["rank_reward_usd"] = slots["rank_reward_usd"].reindex(nodes.index).fillna(ZERO)

    # Section 6: amounts per node.
    elig = nodes["eligible"].to_numpy()
    k = nodes[elig].groupby("operator_address").size()
    nodes["operator_eligible_nodes"] = op.map(k).fillna(0).astype("int64")
    nodes["is_new"] = elig & ~nodes.index.isin(sorted(inp.previously_eligible))
    rate_by_k = {int(n): policy.multi_node_rate(int(n)) for n in set(k.tolist())}
    base = policy.base_usd
    nodes["base_usd"] = _obj(np.where(elig, base, ZERO), nodes.index)
    nodes["multi_node_bonus_usd"] = _obj(
        (
            rate_by_k[int(kk)] * base if new else ZERO
            for kk, new in zip(nodes["operator_eligible_nodes"], nodes["is_new"], strict=True)
        ),
        nodes.index,
    )
    nodes["uptime_nano"] = nodes["uptime_nano"].fillna(0).astype("int64")
    nodes["tasks_completed"] = nodes["tasks_completed"].fillna(0).astype("int64")

    operators = _operators(nodes, reg, policy, inp.blocked_payouts, inp.previous_payouts)
    total_usd = sum(operators["total_usd"], ZERO)
    if policy.monthly_budget_usd is not None and total_usd > policy.monthly_budget_usd:
        raise BudgetExceeded(
            f"the period's rewards total {format_usd(total_usd)} USD, above the policy's monthly budget "
            f"of {format_usd(policy.monthly_budget_usd)} USD",
            fix="check the inputs; if the total is right, raise amounts.monthly_budget_usd "
            "in a new policy version",
        )
    transfers, dust, zero_recipients = _transfers(operators, inp.price_usd, policy)
    held_ops = operators[(operators["held_reason"] != "").to_numpy()]
    held_by_reason = nodes.loc[~nodes["eligible"], "reason"].value_counts()
    totals = Totals(
        nodes=len(nodes),
        eligible_nodes=int(nodes["eligible"].sum()),
        held_nodes=int((~nodes["eligible"]).sum()),
        held_by_reason=tuple((r, int(held_by_reason.get(r, 0))) for r in REASONS if held_by_reason.get(r, 0)),
        operators=len(operators),
        total_usd=total_usd,
        transfers=len(transfers),
        total_wei=sum(transfers["amount_wei"], 0),
        dust_wei=dust,
        zero_amount_recipients=zero_recipients,
        held_operators=int((held_ops["total_usd"].map(lambda v: v > 0)).sum()) if len(held_ops) else 0,
        held_usd=sum(held_ops["total_usd"], ZERO),
    )
    return Result(nodes=nodes.reset_index(), operators=operators, transfers=transfers, totals=totals)


def _operators(
    nodes: pd.DataFrame,
    reg: pd.DataFrame,
    policy: Policy,
    blocked: Mapping[str, str] | None = None,
    previous: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per-operator amounts (section 6), one row per registry operator with at least one node.

    Counts are vectorized; the exact Decimal arithmetic runs once per operator, with the tier
    and role rates looked up once per distinct node count and role set.
    """
    op = nodes["operator_address"]
    seen = sorted(set(op.dropna()) & set(reg.index), key=str.lower)
    elig = nodes[nodes["eligible"]]
    k = elig.groupby("operator_address").size().reindex(seen, fill_value=0).to_numpy().tolist()
    n_new = elig[elig["is_new"]].groupby("operator_address").size().reindex(seen, fill_value=0)
    # rank rewards: only nodes holding a slot carry a non-zero amount (the others hold ZERO, which
    # leaves a sum started at ZERO unchanged), summed in node order as before
    rank_sum: dict[str, Decimal] = {}
    slotted = elig[elig["rank_slot"].notna().to_numpy()]
    for operator, usd in zip(slotted["operator_address"], slotted["rank_reward_usd"], strict=True):
        rank_sum[operator] = rank_sum.get(operator, ZERO) + usd
    regs = reg.reindex(seen)
    base = policy.base_usd
    cap_rate = policy.bonus_cap_rate
    multi_rate = {kk: policy.multi_node_rate(kk) for kk in set(k)}
    role_rate: dict[frozenset[str], Decimal] = {}
    rows = []
    for operator, payout, roles, kk, new in zip(
        seen, regs["payout_address"], regs["roles"], k, n_new.to_numpy().tolist(), strict=True
    ):
        base_sum = base * kk
        multi = multi_rate[kk] * base * new
        rate = role_rate.get(roles)
        if rate is None:
            rate = role_rate[roles] = policy.role_rate(roles)
        role = rate * (base_sum + multi)
        excess = max(ZERO, multi + role - cap_rate * base_sum)
        rank = rank_sum.get(operator, ZERO)
        rows.append(
            (
                operator,
                payout,
                kk,
                base_sum,
                multi,
                role,
                excess,
                rank,
                base_sum + multi + role - excess + rank,
            )
        )
    frame = pd.DataFrame(rows, columns=list(OPERATOR_AMOUNT_COLUMNS)).astype({"eligible_nodes": "int64"})
    # Address hygiene: a payout address that is the Safe or the token is held (never paid); a
    # payout address that differs from the operator's last paid period is flagged.
    blocked, previous = blocked or {}, previous or {}
    frame["held_reason"] = [blocked.get(str(a).lower(), "") for a in frame["payout_address"]]
    frame["previous_payout_address"] = [previous.get(o, "") for o in frame["operator_address"]]
    frame["payout_address_changed"] = [
        p != "" and p.lower() != str(a).lower()
        for a, p in zip(frame["payout_address"], frame["previous_payout_address"], strict=True)
    ]
    return frame


def _transfers(operators: pd.DataFrame, price: Decimal, policy: Policy) -> tuple[pd.DataFrame, int, int]:
    """Section 7: one transfer per payout address; floor to wei; batches of max_transfers."""
    owed = operators["total_usd"].map(lambda v: v > 0).astype(bool)
    paying = operators[(owed & (operators["held_reason"] == "")).to_numpy()]
    sums: dict[str, Decimal] = {}
    for addr, total in zip(paying["payout_address"], paying["total_usd"], strict=True):
        sums[addr] = sums.get(addr, ZERO) + total
    decimals = policy.token_decimals
    recipients = sorted(sums, key=str.lower)
    wei = [usd_to_wei(sums[a], price, decimals) for a in recipients]
    # sum of the unrounded amounts = (sum of the USD totals) at the one price: exact, one Fraction
    exact_total = exact_wei(sum(sums.values(), ZERO), price, decimals)
    dust = int(exact_total) - sum(wei)
    keep = [i for i, w in enumerate(wei) if w > 0]
    frame = pd.DataFrame(
        {
            "batch": [i // policy.max_transfers_per_batch + 1 for i in range(len(keep))],
            "payout_address": [recipients[i] for i in keep],
            "total_usd": pd.Series([sums[recipients[i]] for i in keep], dtype=object),
            "amount_wei": pd.Series([wei[i] for i in keep], dtype=object),
        }
    )
    return frame, dust, len(recipients) - len(keep)
