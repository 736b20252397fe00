"""Small hand-made months for tests: rows as strings, exactly as a CSV would carry them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
from eth_utils import to_checksum_address

from flows.ledger import RunMeta
from flows.sources import Source, read_table
from payouts.engine import Inputs, Result, compute
from payouts.period import Period
from payouts.policy import Policy, parse_policy
from schemas.inputs import METRICS_COLUMNS, REGISTRY_COLUMNS, parse_metrics, parse_registry

REPO = Path(__file__).resolve().parents[1]
PHASE3 = parse_policy((REPO / "policies" / "phase3.toml").read_bytes(), "phase3")
PERIOD = Period(2026, 10)


def addr(kind: str, i: int) -> str:
    """Deterministic EIP-55 addresses: node n, operator o, payout p; i orders them."""
    prefix = {"n": "a0", "o": "b0", "p": "c0", "x": "d0"}[kind]
    return to_checksum_address("0x" + prefix + f"{i:038x}")


def node_rows(
    node: str,
    operator: str,
    *,
    days: Iterable[int] | None = None,
    period: Period = PERIOD,
    uptime: str = "1",
    response: str = "0.99",
    throughput: str = "100",
    ping: str = "50",
    gping: str = "80",
    sm_ok: int = 10,
    sm_total: int = 10,
    tasks: int = 10,
    accurate: int | None = None,
    stake_pool: str = "3",
    stake_cor: str = "5000",
    **overrides: str,
) -> list[dict[str, str]]:
    days = range(1, period.days + 1) if days is None else days
    rows = []
    for d in days:
        row = {
            "date": f"{period}-{d:02d}",
            "node_address": node,
            "operator_address": operator,
            "uptime_ratio": uptime,
            "response_rate": response,
            "throughput_tph": throughput,
            "ping_ms": ping,
            "global_ping_ms": gping,
            "tasks_completed": str(tasks),
            "tasks_accurate": str(tasks if accurate is None else accurate),
            "stake_pool": stake_pool,
            "stake_cor": stake_cor,
        }
        for s in ("create", "prepare", "precommit", "commit"):
            row[f"sm_{s}_ok"] = str(sm_ok)
            row[f"sm_{s}_total"] = str(sm_total)
        row.update(overrides)
        rows.append(row)
    return rows


def operator_row(
    operator: str,
    payout: str | None = None,
    *,
    roles: str = "",
    preapproved: bool = False,
    disqualified: bool = False,
    bug_points: int = 0,
) -> dict[str, str]:
    return {
        "operator_address": operator,
        "payout_address": payout or operator,
        "roles": roles,
        "preapproved": "true" if preapproved else "false",
        "disqualified": "true" if disqualified else "false",
        "bug_points": str(bug_points),
    }


def metrics_frame(rows: Sequence[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(METRICS_COLUMNS), dtype=str)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def registry_frame(rows: Sequence[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(REGISTRY_COLUMNS), dtype=str)
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def run_month(
    rows: Sequence[dict[str, str]],
    registry: Sequence[dict[str, str]],
    *,
    policy: Policy = PHASE3,
    period: Period = PERIOD,
    price: str = "0.02",
    previously_eligible: Iterable[str] = (),
) -> Result:
    """Parse string tables through the real schemas, then compute: the whole pure path."""
    m = parse_metrics(metrics_frame(rows), "metrics.csv", period)
    r = parse_registry(registry_frame(registry), "operators.csv", policy.roles)
    return compute(
        Inputs(
            period=period,
            rows=m.rows,
            held=m.held,
            registry=r.operators,
            held_operators=r.held_operators,
            previously_eligible=frozenset(previously_eligible),
            price_usd=Decimal(price),
            policy=policy,
        )
    )


def with_policy(**changes: object) -> Policy:
    return replace(PHASE3, **changes)  # type: ignore[arg-type]


def table_from_bytes(name: str, data: bytes) -> pd.DataFrame:
    return read_table(Source("test", name, data))


def run_meta(outputs: dict[str, str], **fields: object) -> RunMeta:
    """A `RunMeta` for ledger tests: policy phase3 version 1 (a zero hash), price 0.02, no inputs
    and no totals unless `fields` says otherwise."""
    base: dict[str, object] = {
        "policy_name": "phase3",
        "policy_version": "1",
        "policy_sha256": "0" * 64,
        "price": "0.02",
        "inputs": [],
        "totals": {},
    }
    return RunMeta(outputs=outputs, **{**base, **fields})  # type: ignore[arg-type]
