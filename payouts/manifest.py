"""The run manifest: what went in, what came out, under which rules - as deterministic JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from payouts.engine import Totals
from payouts.jsonfmt import dumps_indented
from payouts.money import format_units, format_usd
from payouts.policy import Policy

TOOL_NAME = "cor-payouts"


@dataclass(frozen=True)
class InputRecord:
    role: str
    name: str
    sha256: str
    rows: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def count_rows(csv_bytes: bytes) -> int:
    """Data rows of a CSV output we wrote (no embedded newlines by construction): lines - header."""
    return max(csv_bytes.count(b"\n") - 1, 0)


def totals_dict(t: Totals, decimals: int) -> dict[str, Any]:
    return {
        "nodes": t.nodes,
        "eligible_nodes": t.eligible_nodes,
        "held_nodes": t.held_nodes,
        "held_by_reason": dict(t.held_by_reason),
        "operators": t.operators,
        "total_usd": format_usd(t.total_usd),
        "transfers": t.transfers,
        "total_wei": str(t.total_wei),
        "total_cor": format_units(t.total_wei, decimals),
        "dust_wei": str(t.dust_wei),
        "zero_amount_recipients": t.zero_amount_recipients,
        "held_operators": t.held_operators,
        "held_usd": format_usd(t.held_usd),
    }


def build_manifest(
    *,
    period: str,
    policy: Policy,
    policy_source: str,
    price: Decimal,
    price_source: str,
    inputs: Sequence[InputRecord],
    outputs: Mapping[str, bytes],
    totals: Totals,
    rejected_rows: int,
    findings: int,
    tool_version: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as a dict. `outputs` maps file name -> exact bytes (CSV row counts derived)."""
    manifest: dict[str, Any] = {
        "period": period,
        "policy": {
            "name": policy.name,
            "version": policy.version,
            "sha256": policy.sha256,
            "source": policy_source,
        },
        "price": {"cor_usd": str(price), "source": price_source},
        "token": {"symbol": policy.token_symbol, "decimals": policy.token_decimals},
        "inputs": [
            {"role": i.role, "name": i.name, "sha256": i.sha256, "rows": i.rows}
            for i in sorted(inputs, key=lambda r: (r.role, r.name))
        ],
        "outputs": [
            {
                "name": name,
                "sha256": sha256_hex(data),
                "rows": count_rows(data) if name.endswith(".csv") else None,
            }
            for name, data in sorted(outputs.items())
        ],
        "totals": {
            **totals_dict(totals, policy.token_decimals),
            "rejected_rows": rejected_rows,
            "findings": findings,
        },
        "tool": {"name": TOOL_NAME, "version": tool_version},
    }
    if extra:
        manifest.update(extra)
    return manifest


def render_json(obj: Mapping[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, 2-space indent, UTF-8, trailing newline."""
    return (dumps_indented(obj, sort_keys=True) + "\n").encode("utf-8")
