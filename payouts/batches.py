"""What signers use: Transaction Builder files, CSV Airdrop files and a signing summary per batch.

Pure: transfers in, file bytes and per-batch facts out. The safeTxHash is the one Safe{Wallet}
will show for the batch (see `payouts.safe_tx.wallet_transaction`): batches take consecutive
Safe nonces starting at `ChainConfig.safe_nonce`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from eth_utils import keccak

from payouts.addresses import OK, ZERO_ADDRESS, check_address
from payouts.errors import InputError
from payouts.money import format_units
from payouts.safe_tx import multisend_call_data, safe_tx_hashes, wallet_transaction
from payouts.txbuilder import (
    BatchTransfer,
    build_erc20_batch,
    build_native_batch,
    render_airdrop_csv,
    render_batch_json,
    transactions_from_batch,
)

MAX_BATCH_SIZE = 500


@dataclass(frozen=True)
class ChainConfig:
    """Where and how a period is paid. `token` None means COR is the chain's native currency."""

    network: str
    chain_id: int
    safe: str
    token: str | None
    safe_version: str
    multisend: str
    safe_nonce: int | None = None

    @property
    def native(self) -> bool:
        return self.token is None

    def as_manifest(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "chain_id": self.chain_id,
            "safe": self.safe,
            "token": self.token,
            "currency": "native" if self.native else "erc20",
            "safe_version": self.safe_version,
            "multisend_call_only": self.multisend,
            "first_safe_nonce": self.safe_nonce,
        }


@dataclass(frozen=True)
class BatchInfo:
    number: int
    of: int
    json_name: str
    csv_name: str
    transfers: int
    total_wei: int
    running_total_wei: int
    checksum: str
    tx_to: str
    tx_value: int
    tx_operation: int
    tx_data_keccak: str
    multisend_data_keccak: str
    safe_nonce: int | None
    safe_tx_hash: str | None
    domain_hash: str | None
    message_hash: str | None
    recipients: tuple[BatchTransfer, ...]


def check_recipients(transfers: pd.DataFrame, chain: ChainConfig) -> None:
    """Refuse (exit 2) a recipient that is the zero address, the Safe or the token."""
    forbidden = {ZERO_ADDRESS.lower(): "the zero address", chain.safe.lower(): "the Safe itself"}
    if chain.token is not None:
        forbidden[chain.token.lower()] = "the token contract"
    for addr in transfers["payout_address"]:
        what = forbidden.get(str(addr).lower())
        if what is not None:
            raise InputError(
                f"payout address {addr} is {what}: paying it would lose the funds",
                file="operator registry",
                column="payout_address",
                fix="correct the operator's payout_address in the registry",
            )


def build_batches(
    transfers: pd.DataFrame,
    chain: ChainConfig,
    *,
    period: str,
    created_at_ms: int,
    decimals: int,
    symbol: str,
    transfers_sha256: str,
) -> tuple[dict[str, bytes], list[BatchInfo]]:
    """Cut `transfers` (columns batch, payout_address, amount_wei; in order) into batch files."""
    check_recipients(transfers, chain)
    files: dict[str, bytes] = {}
    infos: list[BatchInfo] = []
    numbers = sorted({int(b) for b in transfers["batch"]})
    running = 0
    for n in numbers:
        chunk = transfers[transfers["batch"] == n]
        items = tuple(
            BatchTransfer(str(a), int(w))
            for a, w in zip(chunk["payout_address"], chunk["amount_wei"], strict=True)
        )
        total = sum(t.amount_wei for t in items)
        running += total
        stem = f"batch-{n:03d}"
        description = (
            f"Cortensor contest rewards {period}, batch {n} of {len(numbers)}: {len(items)} transfers, "
            f"{format_units(total, decimals)} {symbol}. Cut from transfers.csv sha256 {transfers_sha256}."
        )
        common = {
            "chain_id": chain.chain_id,
            "safe": chain.safe,
            "transfers": items,
            "name": f"COR payout {period} ({n}/{len(numbers)})",
            "description": description,
            "created_at_ms": created_at_ms,
        }
        batch = (
            build_native_batch(**common)  # type: ignore[arg-type]
            if chain.native
            else build_erc20_batch(token=chain.token, **common)  # type: ignore[arg-type]
        )
        calls = transactions_from_batch(batch)  # rebuilt from the file, as the builder does
        wtx = wallet_transaction(calls, chain.multisend)
        nonce = None if chain.safe_nonce is None else chain.safe_nonce + n - 1
        hashes = (
            None
            if nonce is None
            else safe_tx_hashes(
                chain_id=chain.chain_id, safe=chain.safe, safe_version=chain.safe_version, nonce=nonce, tx=wtx
            )
        )
        tx_data_keccak = "0x" + keccak(wtx.data).hex()
        files[f"batches/{stem}.json"] = render_batch_json(batch)
        files[f"batches/{stem}.csv"] = render_airdrop_csv(
            token=chain.token, transfers=items, decimals=decimals
        )
        infos.append(
            BatchInfo(
                number=n,
                of=len(numbers),
                json_name=f"batches/{stem}.json",
                csv_name=f"batches/{stem}.csv",
                transfers=len(items),
                total_wei=total,
                running_total_wei=running,
                checksum=batch["meta"]["checksum"],
                tx_to=wtx.to,
                tx_value=wtx.value,
                tx_operation=wtx.operation,
                tx_data_keccak=tx_data_keccak,
                # a batch of 2+ calls is sent as that very MultiSend call: its data is reused
                multisend_data_keccak=tx_data_keccak
                if wtx.is_multisend
                else "0x" + keccak(multisend_call_data(calls)).hex(),
                safe_nonce=nonce,
                safe_tx_hash=None if hashes is None else "0x" + hashes.safe_tx_hash.hex(),
                domain_hash=None if hashes is None else "0x" + hashes.domain_hash.hex(),
                message_hash=None if hashes is None else "0x" + hashes.message_hash.hex(),
                recipients=items,
            )
        )
    return files, infos


def batch_manifest(infos: Sequence[BatchInfo], decimals: int) -> list[dict[str, Any]]:
    return [
        {
            "batch": b.number,
            "file": b.json_name,
            "airdrop_csv": b.csv_name,
            "transfers": b.transfers,
            "total_wei": str(b.total_wei),
            "total_cor": format_units(b.total_wei, decimals),
            "running_total_wei": str(b.running_total_wei),
            "builder_checksum": b.checksum,
            "safe_tx": {
                "to": b.tx_to,
                "operation": b.tx_operation,
                "value": str(b.tx_value),
                "data_keccak": b.tx_data_keccak,
            },
            "multisend_data_keccak": b.multisend_data_keccak,
            "safe_nonce": b.safe_nonce,
            "safe_tx_hash": b.safe_tx_hash,
            "eip712_domain_hash": b.domain_hash,
            "eip712_message_hash": b.message_hash,
            "recipients": [
                {
                    "to": t.recipient,
                    "amount_wei": str(t.amount_wei),
                    "amount_cor": format_units(t.amount_wei, decimals),
                }
                for t in b.recipients
            ],
        }
        for b in infos
    ]


def _value(wei: int, decimals: int, symbol: str) -> str:
    return "0" if wei == 0 else f"{wei} wei ({format_units(wei, decimals)} {symbol})"


def _hash_cell(h: str | None) -> str:
    return "not computed (pass --safe-nonce)" if h is None else f"`{h}`"


def _op_name(op: int) -> str:
    return "DELEGATECALL (1)" if op == 1 else "CALL (0)"


def signing_markdown(
    infos: Sequence[BatchInfo], chain: ChainConfig, *, period: str, decimals: int, symbol: str
) -> bytes:
    """The signer-facing summary: what to import, what the wallet must show, which hash to compare."""
    total = infos[-1].running_total_wei if infos else 0
    lines = [
        f"# Signing sheet: COR payout {period}",
        "",
        f"- Network: {chain.network} (chain id {chain.chain_id})",
        f"- Safe: `{chain.safe}` (version {chain.safe_version})",
        f"- Paying: {'native ' + symbol if chain.native else f'ERC-20 {symbol} at `{chain.token}`'}",
        f"- MultiSendCallOnly: `{chain.multisend}`",
        f"- Batches: {len(infos)}, transfers: {sum(b.transfers for b in infos)}, "
        f"total: {format_units(total, decimals)} {symbol} ({total} wei)",
        "",
        "For each batch, in order: import the JSON file into the Transaction Builder (no checksum",
        "warning must appear), compare recipients and amounts with the table below and with",
        "transfers.csv, then check that the safeTxHash on the hardware wallet equals the one printed",
        "here. A batch of one transfer is sent by the wallet as a direct call (no MultiSend).",
        "See docs/signing.md.",
        "",
        "| batch | nonce | transfers | total COR | running total COR | operation | to | safeTxHash |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in infos:
        lines.append(
            f"| {b.number} | {'' if b.safe_nonce is None else b.safe_nonce} | {b.transfers} | "
            f"{format_units(b.total_wei, decimals)} | {format_units(b.running_total_wei, decimals)} | "
            f"{_op_name(b.tx_operation)} | `{b.tx_to}` | "
            f"{_hash_cell(b.safe_tx_hash)} |"
        )
    for b in infos:
        lines += [
            "",
            f"## Batch {b.number} of {b.of}: `{b.json_name}`",
            "",
            f"- Builder checksum: `{b.checksum}`",
            f"- Safe transaction: {_op_name(b.tx_operation)} to `{b.tx_to}`, value {b.tx_value}, "
            f"keccak(data) `{b.tx_data_keccak}`",
            f"- Value carried by the Safe transaction itself: {_value(b.tx_value, decimals, symbol)}",
            f"- keccak(MultiSend call data): `{b.multisend_data_keccak}`",
            f"- Safe nonce: {'not given' if b.safe_nonce is None else b.safe_nonce}",
            f"- safeTxHash: {_hash_cell(b.safe_tx_hash)}",
            f"- EIP-712 domain hash: {_hash_cell(b.domain_hash)}",
            f"- EIP-712 message hash: {_hash_cell(b.message_hash)}",
            f"- Total: {format_units(b.total_wei, decimals)} {symbol} ({b.total_wei} wei); "
            f"running total {format_units(b.running_total_wei, decimals)} {symbol}",
            "",
            "| # | recipient | amount COR | amount wei |",
            "|---|---|---|---|",
        ]
        for i, t in enumerate(b.recipients, 1):
            lines.append(
                f"| {i} | `{t.recipient}` | {format_units(t.amount_wei, decimals)} | {t.amount_wei} |"
            )
    return ("\n".join(lines) + "\n").encode("utf-8")


def checksummed(value: str, what: str) -> str:
    """An address flag in EIP-55 form. All-lowercase is accepted and checksummed; a mixed-case
    value whose checksum is wrong (a typo) is refused with exit 2."""
    fixed, problem = check_address(value.strip())
    if problem != OK or fixed is None:
        raise InputError(
            f"{what} {value!r} is not a valid address ({problem.replace('_', ' ')})",
            column=what,
            fix="copy the address from Safe{Wallet} or a block explorer (0x + 40 hex, EIP-55 mixed case)",
        )
    return fixed
