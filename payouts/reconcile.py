"""Reconciliation: what the ledger expects each payout address to receive vs what the chain shows.

Pure: the on-chain transfers are read elsewhere (`flows.reconcile.read_transfers`). Matching is
per payout address over *sums*: an address is `paid` when the tokens the Safe sent it equal what
the ledger expects, however many transactions that took.

Statuses: `paid` (equal), `missing` (expected, nothing sent), `short` (sent less), `over` (sent
more), `unexpected` (sent to an address the ledger expects nothing for).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

PAID = "paid"
MISSING = "missing"
SHORT = "short"
OVER = "over"
UNEXPECTED = "unexpected"
STATUSES = (PAID, MISSING, SHORT, OVER, UNEXPECTED)

RECONCILIATION_COLUMNS = ("period", "payout_address", "expected_wei", "paid_wei", "status", "tx_hashes")


@dataclass(frozen=True)
class OnChainTransfer:
    """One ERC-20 `Transfer(from=Safe, to, value)` log."""

    to: str  # EIP-55
    amount_wei: int
    tx_hash: str  # 0x-prefixed lowercase hex
    block: int
    log_index: int = 0

    @property
    def key(self) -> tuple[str, int]:
        """Identifies the log on chain: (tx hash, log index)."""
        return (self.tx_hash.lower(), self.log_index)


@dataclass(frozen=True)
class ReconRow:
    payout_address: str
    expected_wei: int
    paid_wei: int
    status: str
    transfers: tuple[OnChainTransfer, ...] = ()  # on-chain transfers to this address, chain order

    @property
    def tx_hashes(self) -> tuple[str, ...]:
        """Distinct transaction hashes of `transfers`, in chain order."""
        return tuple(dict.fromkeys(t.tx_hash.lower() for t in self.transfers))


def _status(expected: int, paid: int, any_transfer: bool) -> str:
    if expected == 0:
        return UNEXPECTED
    if paid == expected:
        return PAID
    if paid == 0 and not any_transfer:
        return MISSING
    return SHORT if paid < expected else OVER


def reconcile(
    expected: Mapping[str, int],
    onchain: Sequence[OnChainTransfer],
    *,
    ignore: Collection[tuple[str, int]] = (),
) -> list[ReconRow]:
    """One row per payout address that is expected or was sent tokens, sorted by lowercase address.

    `expected` maps payout address -> wei (addresses with 0 are treated as not expected).
    `ignore` holds `OnChainTransfer.key`s to leave out (e.g. logs already attributed to another
    period in the ledger). A log listed twice in `onchain` counts once.
    """
    exp: dict[str, tuple[str, int]] = {}
    for address, amount in expected.items():
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"expected[{address}] must be a non-negative int, got {amount!r}")
        key = address.lower()
        if key in exp:
            raise ValueError(f"expected: address {address} appears twice (case-insensitively)")
        if amount > 0:
            exp[key] = (address, amount)
    skip = {(h.lower(), i) for h, i in ignore}
    seen: set[tuple[str, int]] = set()
    sent: dict[str, list[OnChainTransfer]] = {}
    spelled: dict[str, str] = {}
    for t in sorted(onchain, key=lambda t: (t.block, t.log_index, t.tx_hash.lower())):
        if t.key in skip or t.key in seen:
            continue
        seen.add(t.key)
        sent.setdefault(t.to.lower(), []).append(t)
        spelled.setdefault(t.to.lower(), t.to)
    rows = []
    for key in sorted(exp.keys() | sent.keys()):
        address, want = exp.get(key, (spelled.get(key, key), 0))
        transfers = tuple(sent.get(key, ()))
        got = sum(t.amount_wei for t in transfers)
        rows.append(ReconRow(address, want, got, _status(want, got, bool(transfers)), transfers))
    return rows


def all_paid(rows: Sequence[ReconRow]) -> bool:
    """True when every row is `paid` (the reconcile command exits 1 otherwise)."""
    return all(r.status == PAID for r in rows)


def status_counts(rows: Sequence[ReconRow]) -> dict[str, int]:
    """Rows per status, every status listed (0 when absent), in `STATUSES` order."""
    return {s: sum(1 for r in rows if r.status == s) for s in STATUSES}


def render_reconciliation_csv(period: str, rows: Sequence[ReconRow]) -> bytes:
    """reconciliation.csv: `period,payout_address,expected_wei,paid_wei,status,tx_hashes`.

    Sorted by lowercase address; `\\n` line ends; `tx_hashes` is the distinct transaction hashes
    that paid the address, in chain order, separated by `;` (empty when none).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RECONCILIATION_COLUMNS)
    for r in sorted(rows, key=lambda r: r.payout_address.lower()):
        writer.writerow(
            [period, r.payout_address, str(r.expected_wei), str(r.paid_wei), r.status, ";".join(r.tx_hashes)]
        )
    return buf.getvalue().encode("utf-8")
