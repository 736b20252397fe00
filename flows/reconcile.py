"""`payouts reconcile`: read the token's Transfer logs from the Safe and compare them with the ledger.

The chain access (web3 `eth_getLogs` with a topic filter on `from` = the Safe) lives here; the
matching and the CSV are pure (`payouts.reconcile`). `reconcile_period` is the whole command
minus argument parsing: it also marks matched transfers executed in the ledger and writes
`reconciliation.csv` atomically.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from flows.ledger import Ledger, MarkResult
from payouts.errors import InputError
from payouts.reconcile import OnChainTransfer, ReconRow, all_paid, reconcile, render_reconciliation_csv

#: keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
DEFAULT_MAX_BLOCKS = 10_000  # per eth_getLogs call; public RPCs cap the range
RECONCILIATION = "reconciliation.csv"


def _topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A web3 client for `--rpc URL` (http/https), checked to answer."""
    if not rpc_url.startswith(("http://", "https://")):
        raise InputError(
            f"--rpc {rpc_url!r} is not an http(s) URL", column="--rpc", fix="pass an http(s) RPC URL"
        )
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - the connectivity check
    except Exception as exc:
        raise InputError(
            f"cannot reach the RPC at {rpc_url}: {type(exc).__name__}: {exc}",
            column="--rpc",
            fix="check the URL and the network",
        ) from None
    return w3


def read_transfers(
    w3: Web3,
    token: str,
    safe: str,
    from_block: int,
    to_block: int | Literal["latest"] = "latest",
    *,
    max_blocks: int = DEFAULT_MAX_BLOCKS,
) -> list[OnChainTransfer]:
    """Every ERC-20 `Transfer(from=safe, to, value)` log of `token` in [from_block, to_block].

    `"latest"` is resolved once, at the start. The range is read in chunks of `max_blocks`.
    Logs marked `removed` (reorged out) are dropped. Sorted by (block, log index).
    """
    last = int(w3.eth.block_number) if to_block == "latest" else int(to_block)
    if from_block < 0 or last < from_block:
        raise InputError(
            f"block range {from_block}..{last} is empty",
            column="--from-block",
            fix="pass --from-block <= --to-block",
        )
    token_address = to_checksum_address(token)
    topics = [TRANSFER_TOPIC, _topic_address(safe)]
    out: list[OnChainTransfer] = []
    start = from_block
    while start <= last:
        end = min(start + max_blocks - 1, last)
        logs = w3.eth.get_logs(
            {"address": token_address, "fromBlock": start, "toBlock": end, "topics": topics}  # type: ignore[typeddict-item]
        )
        for log in logs:
            if log.get("removed"):
                continue
            log_topics = [HexBytes(t) for t in log["topics"]]
            data = HexBytes(log["data"])
            if len(log_topics) != 3 or len(data) != 32:  # not a standard ERC-20 Transfer
                continue
            out.append(
                OnChainTransfer(
                    to=to_checksum_address(log_topics[2][-20:]),
                    amount_wei=int.from_bytes(data, "big"),
                    tx_hash=HexBytes(log["transactionHash"]).to_0x_hex().lower(),
                    block=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                )
            )
        start = end + 1
    return sorted(out, key=lambda t: (t.block, t.log_index))


@dataclass(frozen=True)
class Reconciliation:
    period: str
    rows: tuple[ReconRow, ...]
    csv: bytes
    marked: MarkResult
    written: Path | None

    @property
    def all_paid(self) -> bool:
        return all_paid(self.rows)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reconcile_period(
    ledger: Ledger,
    w3: Web3,
    period: str,
    *,
    from_block: int = 0,
    to_block: int | Literal["latest"] = "latest",
    token: str | None = None,
    safe: str | None = None,
    out_path: Path | None = None,
    max_blocks: int = DEFAULT_MAX_BLOCKS,
) -> Reconciliation:
    """The reconcile command: read, match, mark executed, write `reconciliation.csv`.

    `token` / `safe` default to what the period's active run recorded. The chain id, when the
    run recorded one, must match the RPC's. Logs already attributed to another period's
    transfers are left out. The caller exits 1 unless `result.all_paid`.
    """
    run = ledger.active_run(period)
    if run is None:
        raise InputError(
            f"the ledger {ledger.path} has no run for period {period}",
            column="--period",
            fix="run `payouts history` to see the recorded periods, or pass --ledger",
        )
    if run.safe_address and not run.token_address and not token:
        raise InputError(
            f"period {period} was paid in the chain's native currency: reconcile reads ERC-20 Transfer "
            "events, and native transfers leave no logs",
            column="--period",
            fix="reconcile native periods from balances or an indexer (not automated yet; docs/networks.md)",
        )
    token = token or run.token_address
    safe = safe or run.safe_address
    if not token or not safe:
        raise InputError(
            f"run {run.run_id} of period {period} recorded no token/Safe address",
            fix="pass --token and --safe",
        )
    if run.chain_id is not None and int(w3.eth.chain_id) != run.chain_id:
        raise InputError(
            f"the RPC is chain {w3.eth.chain_id}, but period {period} was emitted for chain {run.chain_id}",
            column="--rpc",
            fix="pass an RPC URL of the chain the batches were built for",
        )
    onchain = read_transfers(w3, token, safe, from_block, to_block, max_blocks=max_blocks)
    expected = ledger.paid_by_address(period)
    rows = reconcile(expected, onchain, ignore=ledger.onchain_attributed(exclude_period=period))
    csv = render_reconciliation_csv(period, rows)
    marked = ledger.mark_executed(period, [t for r in rows for t in r.transfers])
    if out_path is not None:
        _write_atomic(out_path, csv)
    return Reconciliation(period, tuple(rows), csv, marked, out_path)
