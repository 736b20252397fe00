"""What a superseding run pays: per-payout-address differences against what was already emitted.

Pure: no I/O. Amounts are `int` base units (wei); addresses are compared case-insensitively and
reported in the spelling the caller gave (EIP-55 everywhere in this pipeline). Nothing here ever
produces a negative payment: a payout address that was paid more than it is now owed is
*overpaid* - reported, never clawed back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from payouts.money import format_units

#: (payout address, old wei, new wei, new - old)
DiffLine = tuple[str, int, int, int]

OVERPAID_COLUMNS = ("period", "payout_address", "paid_wei", "owed_wei", "overpaid_wei", "overpaid_cor")


def _check_amounts(amounts: Mapping[str, int], what: str) -> dict[str, tuple[str, int]]:
    """lowercase address -> (address as given, amount); refuses non-int / negative / duplicate keys."""
    out: dict[str, tuple[str, int]] = {}
    for address, amount in amounts.items():
        if not isinstance(address, str):
            raise ValueError(f"{what}: address {address!r} is not a string")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(f"{what}[{address}] must be an int (wei), got {type(amount).__name__}")
        if amount < 0:
            raise ValueError(f"{what}[{address}] is negative: {amount}")
        key = address.lower()
        if key in out:
            raise ValueError(f"{what}: address {address} appears twice (case-insensitively)")
        out[key] = (address, amount)
    return out


def _merged(old: Mapping[str, int], new: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """(address, old, new) for every address of either side, sorted by lowercase address.

    The spelling is taken from `new` when the address is there, else from `old`.
    """
    a = _check_amounts(old, "old amounts")
    b = _check_amounts(new, "new amounts")
    rows = []
    for key in sorted(a.keys() | b.keys()):
        spelled = b[key][0] if key in b else a[key][0]
        rows.append((spelled, a.get(key, ("", 0))[1], b.get(key, ("", 0))[1]))
    return rows


def topup_deltas(
    previously_paid: Mapping[str, int], new_amounts: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """(top-ups, overpaid) per payout address, both as positive ints.

    top-up = new - paid where new > paid (what a superseding run pays);
    overpaid = paid - new where paid > new (an address no longer owed anything counts as new = 0).
    Addresses whose amount is unchanged appear in neither. Keys are in lowercase-address order.
    """
    topups: dict[str, int] = {}
    overpaid: dict[str, int] = {}
    for address, paid, owed in _merged(previously_paid, new_amounts):
        if owed > paid:
            topups[address] = owed - paid
        elif paid > owed:
            overpaid[address] = paid - owed
    return topups, overpaid


def diff_summary(old: Mapping[str, int], new: Mapping[str, int]) -> list[DiffLine]:
    """(address, old wei, new wei, delta) for every address whose amount changed, by lowercase address.

    An address missing on one side counts as 0 there.
    """
    return [(address, o, n, n - o) for address, o, n in _merged(old, new) if o != n]


def _signed_units(amount: int, decimals: int) -> str:
    sign = "-" if amount < 0 else "+"
    return sign + format_units(abs(amount), decimals)


def describe_diff(diff: list[DiffLine], decimals: int, symbol: str = "COR", limit: int = 20) -> str:
    """Human lines for a diff (at most `limit` addresses, then a count), plus a totals line."""
    if not diff:
        return "every payout amount is identical"
    lines = [
        f"  {address}: {format_units(o, decimals)} -> {format_units(n, decimals)} {symbol} "
        f"({_signed_units(d, decimals)})"
        for address, o, n, d in diff[:limit]
    ]
    if len(diff) > limit:
        lines.append(f"  ... and {len(diff) - limit} more payout address(es)")
    up = sum(d for *_, d in diff if d > 0)
    down = -sum(d for *_, d in diff if d < 0)
    lines.append(
        f"  {len(diff)} address(es) changed: +{format_units(up, decimals)} {symbol} more owed, "
        f"-{format_units(down, decimals)} {symbol} less owed"
    )
    return "\n".join(lines)


def assign_batches(amounts: Mapping[str, int], max_per_batch: int) -> list[tuple[int, str, int]]:
    """(batch, address, wei) for every positive amount, by lowercase address, `max_per_batch` a batch.

    The same rule as the engine's transfer batching (batch = index // max + 1), for top-up batches.
    """
    if isinstance(max_per_batch, bool) or not isinstance(max_per_batch, int) or max_per_batch < 1:
        raise ValueError(f"max_per_batch must be a positive int, got {max_per_batch!r}")
    rows = [(address, wei) for address, _, wei in _merged({}, amounts) if wei > 0]
    return [(i // max_per_batch + 1, address, wei) for i, (address, wei) in enumerate(rows)]


def render_overpaid_csv(
    period: str, paid: Mapping[str, int], owed: Mapping[str, int], decimals: int
) -> bytes:
    """overpaid.csv: one row per payout address paid more than it is now owed (header always).

    Columns `period,payout_address,paid_wei,owed_wei,overpaid_wei,overpaid_cor`; sorted by
    lowercase address; `\\n` line ends; exact amounts (`overpaid_cor` via `format_units`).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(OVERPAID_COLUMNS)
    for address, p, o in _merged(paid, owed):
        if p > o:
            writer.writerow([period, address, str(p), str(o), str(p - o), format_units(p - o, decimals)])
    return buf.getvalue().encode("utf-8")
