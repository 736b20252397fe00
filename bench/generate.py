"""Seeded synthetic month generator: a metrics snapshot and an operator registry.

Produces input files in the formats of spec sections 1.1 and 1.2 (reward-rules.md),
with realistic distributions, for benchmarks, tests and the bundled example.

Everything per row is vectorized with numpy / pyarrow: 100k nodes x 31 days (3.1M rows)
takes a few seconds. Only the per-address work (keccak + EIP-55 checksum) is a Python
loop, over unique addresses, never over rows.

Same arguments -> byte-identical files (for a given numpy / pyarrow version).

    python -m bench.generate --period 2026-10 --operators 20000 --nodes 100000 --seed 1 --out DIR
"""

from __future__ import annotations

import argparse
import calendar
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from eth_utils import is_checksum_address, keccak, to_checksum_address

METRICS_COLUMNS: tuple[str, ...] = (
    "date",
    "node_address",
    "operator_address",
    "uptime_ratio",
    "response_rate",
    "throughput_tph",
    "ping_ms",
    "global_ping_ms",
    "sm_create_ok",
    "sm_create_total",
    "sm_prepare_ok",
    "sm_prepare_total",
    "sm_precommit_ok",
    "sm_precommit_total",
    "sm_commit_ok",
    "sm_commit_total",
    "tasks_completed",
    "tasks_accurate",
    "stake_pool",
    "stake_cor",
)
REGISTRY_COLUMNS: tuple[str, ...] = (
    "operator_address",
    "payout_address",
    "roles",
    "preapproved",
    "disqualified",
    "bug_points",
)
ROLES: tuple[str, ...] = ("miner", "oracle", "verifier")

# Kinds of row-level faults injected with bad_row_rate (each one must be rejected by validation).
BAD_ROW_KINDS: tuple[str, ...] = (
    "uptime_out_of_range",  # uptime_ratio 1.7 or 1.000001
    "accurate_gt_completed",  # tasks_accurate > tasks_completed
    "empty_response_rate",  # response_rate empty (not nullable)
    "sm_ok_gt_total",  # sm_commit_ok > sm_commit_total
    "duplicate_row",  # the same (date, node_address) twice (exact copy, placed right after)
    "bad_checksum",  # operator_address mixed case with a wrong EIP-55 checksum
    "zero_ping",  # ping_ms 0 (must be > 0 or empty)
    "zero_stake_pool",  # stake_pool 0 (must be >= 1)
)

MICRO = 1_000_000  # fixed-point scale for 6-decimal values
SECONDS_PER_DAY = 86_400
MIN_STAKE_MICRO = 4000 * MICRO

Format = Literal["csv", "parquet"]


# ----------------------------------------------------------------------------- addresses


def make_address(seed: int, kind: str, index: int) -> str:
    """Deterministic EIP-55 address: the last 20 bytes of keccak('cor-bench:{seed}:{kind}:{index}')."""
    return to_checksum_address(keccak(f"cor-bench:{seed}:{kind}:{index}".encode())[12:])


def make_addresses(seed: int, kind: str, n: int) -> list[str]:
    """``make_address`` for indexes 0..n-1 (one Python call per unique address)."""
    return [make_address(seed, kind, i) for i in range(n)]


def break_checksum(address: str) -> str:
    """Flip the case of one hex letter so the address stays mixed-case but fails EIP-55."""
    body = address[2:]
    for i, ch in enumerate(body):
        if ch.isalpha():
            cand = "0x" + body[:i] + ch.swapcase() + body[i + 1 :]
            rest = cand[2:]
            mixed = rest != rest.lower() and rest != rest.upper()
            if mixed and not is_checksum_address(cand):
                return cand
    raise ValueError(f"cannot break the checksum of {address}")  # pragma: no cover (needs <2 letters)


# ----------------------------------------------------------------------------- formatting


def format_fixed(units: np.ndarray, decimals: int, *, min_decimals: int = 0) -> pa.Array:
    """Format fixed-point integers (value = units / 10**decimals) in plain notation.

    Trailing fractional zeros are stripped, but at least ``min_decimals`` digits are kept
    (``min_decimals=1``: 1 -> "1.0"; ``min_decimals=0``: 4000 -> "4000"). Vectorized.
    """
    units = np.asarray(units, dtype=np.int64)
    neg = units < 0
    mag = np.abs(units)
    scale = 10**decimals
    ip = pc.cast(pa.array(mag // scale), pa.string())
    if decimals == 0:
        out = ip
    else:
        fp = pc.utf8_lpad(pc.cast(pa.array(mag % scale), pa.string()), width=decimals, padding="0")
        fp = pc.utf8_rtrim(fp, characters="0")
        if min_decimals > 0:
            fp = pc.utf8_rpad(fp, width=min_decimals, padding="0")
            out = pc.binary_join_element_wise(ip, fp, ".")
        else:
            out = pc.if_else(pc.equal(pc.utf8_length(fp), 0), ip, pc.binary_join_element_wise(ip, fp, "."))
    if neg.any():
        out = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", out, ""), out)
    return out


def format_int(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _blank(arr: pa.Array, empty: np.ndarray) -> pa.Array:
    """Replace the cells where ``empty`` is True by the empty string."""
    if not empty.any():
        return arr
    return pc.if_else(pa.array(empty), pa.scalar("", pa.string()), arr)


def _to_frame(columns: dict[str, pa.Array]) -> pd.DataFrame:
    # pandas 3 stores `str` columns as Arrow large_string: build them so, no copy on conversion.
    table = pa.table({k: pc.cast(v, pa.large_string()) for k, v in columns.items()})
    return table.to_pandas()


# ----------------------------------------------------------------------------- period


def parse_period(period: str) -> tuple[int, int, int]:
    """'YYYY-MM' -> (year, month, days in month)."""
    try:
        year_s, month_s = period.split("-")
        if len(year_s) != 4 or len(month_s) != 2:
            raise ValueError
        year, month = int(year_s), int(month_s)
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        raise ValueError(f"period must be YYYY-MM, got {period!r}") from None
    return year, month, calendar.monthrange(year, month)[1]


def period_dates(period: str) -> list[str]:
    year, month, days = parse_period(period)
    return [f"{year:04d}-{month:02d}-{d:02d}" for d in range(1, days + 1)]


# ----------------------------------------------------------------------------- structure


def _nodes_per_operator(rng: np.random.Generator, operators: int, nodes: int) -> np.ndarray:
    """Heavy-tailed: every operator has >= 1 node, most 1-3, a few with dozens or more."""
    alpha = 1.2
    w = (1.0 - rng.random(operators)) ** (-1.0 / alpha) - 1.0 + 0.05  # Pareto tail
    k = 40.0
    w = w * k / (w + k)  # soft saturation: dozens of nodes, not thousands, for the biggest
    extra = rng.multinomial(nodes - operators, w / w.sum())
    return (1 + extra).astype(np.int64)


def _stake_cor_micro(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sufficient stakes (>= 4000 COR), in micro-COR, with a mix of decimal lengths."""
    exact = rng.random(n) < 0.45
    extra = np.exp(rng.normal(np.log(800.0), 1.3, n))  # COR above the minimum
    digits = rng.integers(0, 7, n)  # 0..6 decimals
    step = 10 ** (6 - digits)
    extra_micro = (extra * MICRO).astype(np.int64) // step * step
    return MIN_STAKE_MICRO + np.where(exact, 0, extra_micro)


def _low_stake(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Insufficient stakes: (pool, micro-COR); either the pool is not 3 or the COR is below 4000."""
    pool = np.full(n, 3, dtype=np.int64)
    cor = _stake_cor_micro(rng, n)
    kind = rng.integers(0, 4, n)
    pool = np.where(kind == 0, rng.integers(1, 3, n), pool)  # pool 1 or 2
    near = np.array([3999_999999, 3999_500000, 3990_000000, 2000_000000], dtype=np.int64)
    cor = np.where(kind == 1, near[rng.integers(0, near.size, n)], cor)  # just below 4000
    low = (rng.uniform(100.0, 3999.0, n) * 100).astype(np.int64) * 10_000  # 2 decimals
    cor = np.where(kind >= 2, low, cor)
    return pool, cor


# ----------------------------------------------------------------------------- generator


def generate_month(
    *,
    period: str,
    operators: int,
    nodes: int,
    seed: int,
    days_missing_rate: float = 0.02,
    bad_row_rate: float = 0.0002,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate one period: (metrics, registry), every cell a string exactly as written to CSV.

    ``metrics.attrs["bad_rows"]`` lists the injected faults as dicts
    ``{"row": <0-based row in metrics>, "node_address": ..., "kind": ...}``.
    """
    if operators < 1:
        raise ValueError("operators must be >= 1")
    if nodes < operators:
        raise ValueError("nodes must be >= operators (every operator has at least one node)")
    if not 0.0 <= days_missing_rate < 1.0 or not 0.0 <= bad_row_rate <= 0.5:
        raise ValueError("days_missing_rate must be in [0, 1) and bad_row_rate in [0, 0.5]")
    dates = period_dates(period)
    n_days = len(dates)

    # Independent streams per section, so a change in one section does not shift the others.
    rng_op, rng_node, rng_day, rng_row, rng_bad = (np.random.default_rng([seed, k]) for k in range(5))

    # ---------------- operators (registry)
    op_addr = make_addresses(seed, "operator", operators)
    preapproved = rng_op.random(operators) < 0.10
    disqualified = np.zeros(operators, dtype=bool)  # a few: 0.5%, at least one from 20 operators
    disqualified[
        rng_op.permutation(operators)[: int(np.ceil(operators * 0.005)) if operators >= 20 else 0]
    ] = True
    bug_points = np.where(rng_op.random(operators) < 0.07, rng_op.geometric(0.5, operators), 0)
    has_role = rng_op.random(operators) < 0.30
    miner = has_role & (rng_op.random(operators) < 0.6)
    oracle = has_role & (rng_op.random(operators) < 0.35)
    verifier = has_role & (rng_op.random(operators) < 0.3)
    miner |= has_role & ~(miner | oracle | verifier)
    role_code = miner.astype(np.int64) + 2 * oracle + 4 * verifier
    role_table = [";".join(r for bit, r in zip((1, 2, 4), ROLES, strict=True) if c & bit) for c in range(8)]
    op_low_draw = rng_op.random(operators)  # insufficient stake: see the nodes section

    # Payout addresses: own address (60%), a separate wallet (40%); ~4% of operators in groups
    # of 2-4 that share one payout wallet.
    payout = np.where(rng_op.random(operators) < 0.6, np.arange(operators), -1)  # -1: a separate wallet
    payout_table = list(op_addr)
    sep = np.flatnonzero(payout < 0)
    payout_table += make_addresses(seed, "payout", sep.size)
    payout[sep] = operators + np.arange(sep.size)
    n_shared = round(operators * 0.04) if operators >= 2 else 0
    if n_shared >= 2:
        members = rng_op.permutation(operators)[:n_shared]
        ends = np.cumsum(rng_op.integers(2, 5, n_shared))  # group sizes 2..4
        ends = ends[ends <= n_shared]
        if ends.size == 0:
            ends = np.array([n_shared])
        ends[-1] = n_shared  # a short remainder joins the last group
        group_of = np.searchsorted(ends, np.arange(n_shared), side="right")
        base = len(payout_table)
        payout_table += make_addresses(seed, "payout-group", ends.size)
        payout[members] = base + group_of

    registry = _to_frame(
        {
            "operator_address": pa.array(op_addr, pa.string()),
            "payout_address": pc.take(pa.array(payout_table, pa.string()), pa.array(payout)),
            "roles": pc.take(pa.array(role_table, pa.string()), pa.array(role_code)),
            "preapproved": pc.take(pa.array(["false", "true"]), pa.array(preapproved.astype(np.int64))),
            "disqualified": pc.take(pa.array(["false", "true"]), pa.array(disqualified.astype(np.int64))),
            "bug_points": format_int(bug_points),
        }
    )

    # ---------------- nodes
    node_addr = make_addresses(seed, "node", nodes)
    per_op = _nodes_per_operator(rng_node, operators, nodes)
    node_op = rng_node.permutation(np.repeat(np.arange(operators), per_op))
    # small operators are more often under-staked than big ones
    op_low_stake = op_low_draw < np.where(per_op <= 3, 0.14, 0.05)
    cls = rng_node.random(nodes)
    flaky = cls < 0.05  # low uptime all month
    late = (cls >= 0.05) & (cls < 0.08)  # joined during the month
    left = (cls >= 0.08) & (cls < 0.10)  # stopped during the month
    zero_tasks = rng_node.random(nodes) < 0.02
    flaky_mean = rng_node.uniform(0.30, 0.93, nodes)
    resp_base = np.where(flaky, rng_node.uniform(0.6, 0.95, nodes), 1.0 - rng_node.beta(1.0, 40.0, nodes))
    thr_base = np.exp(rng_node.normal(np.log(30.0), 0.6, nodes))
    ping_base = np.exp(rng_node.normal(np.log(45.0), 0.5, nodes))
    gping_factor = rng_node.uniform(1.5, 4.0, nodes)
    ping_never = rng_node.random(nodes) < 0.01
    sm_rate = np.exp(rng_node.normal(np.log(40.0), 0.5, nodes))
    sm_p = 1.0 - rng_node.beta(1.0, 60.0, nodes)
    task_rate = np.where(zero_tasks, 0.0, np.exp(rng_node.normal(np.log(120.0), 0.7, nodes)))
    acc_p = 1.0 - rng_node.beta(1.0, 30.0, nodes)

    # Stake: the value after `change_day` (and on all days for most nodes) and the value before.
    pool_after = np.full(nodes, 3, dtype=np.int64)
    cor_after = _stake_cor_micro(rng_node, nodes)
    low = op_low_stake[node_op] & (rng_node.random(nodes) < 0.85)
    lp, lc = _low_stake(rng_node, nodes)
    pool_after = np.where(low, lp, pool_after)
    cor_after = np.where(low, lc, cor_after)
    changes = rng_node.random(nodes) < 0.02
    change_day = np.where(changes, rng_node.integers(1, max(n_days, 2), nodes), 0)  # 0-based first day
    bp, bc = _low_stake(rng_node, nodes)  # good now -> was low before; low now -> was good before
    pool_before = np.where(low, 3, bp)
    cor_before = np.where(low, _stake_cor_micro(rng_node, nodes), bc)
    cor_table = format_fixed(np.concatenate([cor_before, cor_after]), 6)

    # ---------------- which (node, day) rows exist
    day = np.arange(n_days)
    present = rng_day.random((nodes, n_days)) >= days_missing_rate
    join_day = np.where(late, rng_day.integers(1, max(n_days, 2), nodes), 0)
    leave_day = np.where(left, rng_day.integers(1, max(n_days, 2), nodes), n_days)
    present &= (day[None, :] >= join_day[:, None]) & (day[None, :] < leave_day[:, None])
    empty_nodes = np.flatnonzero(~present.any(axis=1))
    present[empty_nodes, np.minimum(join_day[empty_nodes], n_days - 1)] = True  # every node has a row
    row_day, row_node = np.nonzero(present.T)  # ordered by date, then node
    del present
    n_rows = row_day.size

    # ---------------- injected row-level faults: which rows, which kind (applied column by column)
    n_bad = min(int(rng_bad.binomial(n_rows, bad_row_rate)), n_rows) if bad_row_rate > 0 else 0
    bad_rows = np.sort(rng_bad.choice(n_rows, size=n_bad, replace=False)) if n_bad else np.zeros(0, np.int64)
    kinds = rng_bad.integers(0, len(BAD_ROW_KINDS), n_bad)

    def bad(kind: str) -> np.ndarray:
        return bad_rows[kinds == BAD_ROW_KINDS.index(kind)]

    dup = bad("duplicate_row")
    order = np.sort(np.concatenate([np.arange(n_rows), dup])) if dup.size else None  # copy after original

    def o(a: np.ndarray) -> np.ndarray:
        return a[order] if order is not None else a

    bad_report: list[dict[str, object]] = []
    first_pos = np.searchsorted(order, bad_rows) if order is not None else bad_rows  # row -> output row
    for pos, row, k in zip(first_pos.tolist(), bad_rows.tolist(), kinds.tolist(), strict=True):
        name = BAD_ROW_KINDS[k]
        row_out = pos + 1 if name == "duplicate_row" else pos
        bad_report.append({"row": row_out, "node_address": node_addr[row_node[row]], "kind": name})

    # ---------------- per-row values: each column is computed as fixed-point integers, faulted,
    # formatted to strings, and its numbers dropped (keeps the peak memory down).
    cols: dict[str, pa.Array] = {}
    cols["date"] = pc.take(pa.array(dates, pa.string()), pa.array(o(row_day)))
    cols["node_address"] = pc.take(pa.array(node_addr, pa.string()), pa.array(o(row_node)))
    r_op = node_op[row_node]
    op_code = r_op.astype(np.int64)
    rows = bad("bad_checksum")
    op_table = list(op_addr) + [break_checksum(op_addr[i]) for i in r_op[rows]]
    op_code[rows] = operators + np.arange(rows.size)
    cols["operator_address"] = pc.take(pa.array(op_table, pa.string()), pa.array(o(op_code)))
    del r_op, op_code

    # uptime: seconds up out of 86400, written with 6 decimals
    rnd = rng_row.random(n_rows)
    downtime = np.minimum(rng_row.exponential(900.0, n_rows), 6048.0)  # healthy day: >= 0.93
    downtime[rnd < 0.35] = 0.0  # a full day
    bad_day = rnd > 0.985  # an outage
    downtime[bad_day] = rng_row.uniform(6048.0, SECONDS_PER_DAY, int(bad_day.sum()))
    up_frac = 1.0 - downtime / SECONDS_PER_DAY
    del rnd, downtime, bad_day
    fl = np.flatnonzero(flaky[row_node])
    up_frac[fl] = np.clip(rng_row.normal(flaky_mean[row_node[fl]], 0.1), 0.0, 1.0)
    del fl
    uptime_u = np.rint(np.rint(up_frac * SECONDS_PER_DAY) / SECONDS_PER_DAY * MICRO).astype(np.int64)
    up_frac = uptime_u / MICRO
    rows = bad("uptime_out_of_range")
    uptime_u[rows] = np.where(rng_bad.random(rows.size) < 0.5, 1_700_000, 1_000_001)
    cols["uptime_ratio"] = format_fixed(o(uptime_u), 6, min_decimals=1)
    del uptime_u

    resp = np.clip(resp_base[row_node] + rng_row.normal(0.0, 0.01, n_rows), 0.0, 1.0)
    resp_u = np.rint(resp * 10_000).astype(np.int64)  # 4 decimals
    del resp
    resp_empty = np.zeros(n_rows, dtype=bool)
    resp_empty[bad("empty_response_rate")] = True
    cols["response_rate"] = _blank(format_fixed(o(resp_u), 4, min_decimals=1), o(resp_empty))
    del resp_u, resp_empty

    thr = thr_base[row_node] * np.exp(rng_row.normal(0.0, 0.2, n_rows)) * up_frac
    cols["throughput_tph"] = format_fixed(o(np.rint(thr * 100).astype(np.int64)), 2, min_decimals=1)
    del thr

    never = ping_never[row_node]
    ping = ping_base[row_node] * np.exp(rng_row.normal(0.0, 0.15, n_rows))
    ping_u = np.clip(np.rint(ping * 10), 1, 50_000).astype(np.int64)  # 1 decimal, > 0
    del ping
    ping_empty = never | (rng_row.random(n_rows) < 0.03)
    rows = bad("zero_ping")
    ping_u[rows] = 0
    ping_empty[rows] = False
    cols["ping_ms"] = _blank(format_fixed(o(ping_u), 1, min_decimals=1), o(ping_empty))
    del ping_u, ping_empty
    gping = ping_base[row_node] * gping_factor[row_node] * np.exp(rng_row.normal(0.0, 0.1, n_rows))
    gping_u = np.clip(np.rint(gping * 10), 1, 100_000).astype(np.int64)
    del gping
    gping_empty = never | (rng_row.random(n_rows) < 0.05)
    cols["global_ping_ms"] = _blank(format_fixed(o(gping_u), 1, min_decimals=1), o(gping_empty))
    del gping_u, gping_empty, never

    # session state machine: each state's attempts are the previous state's successes
    p = sm_p[row_node]
    total = rng_row.poisson(sm_rate[row_node] * up_frac)
    for state in ("create", "prepare", "precommit", "commit"):
        ok = rng_row.binomial(total, p)
        cols[f"sm_{state}_total"] = format_int(o(total))
        if state == "commit":
            rows = bad("sm_ok_gt_total")
            ok[rows] = total[rows] + 1
        cols[f"sm_{state}_ok"] = format_int(o(ok))
        total = ok
    del p, total, ok

    tasks = rng_row.poisson(task_rate[row_node] * up_frac)
    accurate = rng_row.binomial(tasks, acc_p[row_node])
    rows = bad("accurate_gt_completed")
    accurate[rows] = tasks[rows] + 1 + rng_bad.poisson(3.0, rows.size)
    cols["tasks_completed"] = format_int(o(tasks))
    cols["tasks_accurate"] = format_int(o(accurate))
    del tasks, accurate, up_frac

    after = row_day >= change_day[row_node]
    stake_pool = np.where(after, pool_after[row_node], pool_before[row_node])
    stake_pool[bad("zero_stake_pool")] = 0
    cols["stake_pool"] = format_int(o(stake_pool))
    stake_code = np.where(after, nodes + row_node, row_node)
    cols["stake_cor"] = pc.take(cor_table, pa.array(o(stake_code)))
    del after, stake_pool, stake_code

    metrics = _to_frame({c: cols.pop(c) for c in METRICS_COLUMNS})
    metrics.attrs["bad_rows"] = bad_report
    return metrics, registry


# ----------------------------------------------------------------------------- writing


def _as_string_table(df: pd.DataFrame, string_type: pa.DataType) -> pa.Table:
    cols = {}
    for name in df.columns:
        arr = pa.array(df[name].astype("str"), from_pandas=True)  # missing -> null -> ""
        cols[str(name)] = arr if arr.type == string_type else pc.cast(arr, string_type)
    return pa.table(cols)


def write_frame(df: pd.DataFrame, path: Path, *, fmt: Format = "csv") -> Path:
    """Write a string DataFrame: CSV (UTF-8, header, ',', '\\n', no quoting, empty = '') or Parquet."""
    if fmt == "csv":
        table = _as_string_table(df, pa.large_string())
        opts = pa_csv.WriteOptions(quoting_style="none", quoting_header="none", eol="\n", null_string="")
        pa_csv.write_csv(table, str(path), opts)
    elif fmt == "parquet":
        table = _as_string_table(df, pa.string())
        pq.write_table(table, str(path), compression="zstd")
    else:
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    return path


def write_month(
    metrics: pd.DataFrame, registry: pd.DataFrame, out_dir: str | Path, *, fmt: Format = "csv"
) -> tuple[Path, Path]:
    """Write ``metrics.<fmt>`` and ``operators.<fmt>`` into ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = "csv" if fmt == "csv" else "parquet"
    return (
        write_frame(metrics, out / f"metrics.{ext}", fmt=fmt),
        write_frame(registry, out / f"operators.{ext}", fmt=fmt),
    )


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--period", default="2026-10", help="YYYY-MM (default 2026-10)")
    ap.add_argument("--operators", type=int, required=True)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--days-missing-rate", type=float, default=0.02)
    ap.add_argument("--bad-row-rate", type=float, default=0.0002)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    metrics, registry = generate_month(
        period=args.period,
        operators=args.operators,
        nodes=args.nodes,
        seed=args.seed,
        days_missing_rate=args.days_missing_rate,
        bad_row_rate=args.bad_row_rate,
    )
    t1 = time.perf_counter()
    paths = write_month(metrics, registry, args.out, fmt=args.format)
    t2 = time.perf_counter()
    print(
        f"{len(metrics)} metric rows, {len(registry)} operators, "
        f"{len(metrics.attrs['bad_rows'])} injected bad rows; "
        f"generate {t1 - t0:.1f}s, write {t2 - t1:.1f}s"
    )
    for p in paths:
        print(f"  {p}  {p.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
