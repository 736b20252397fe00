"""Resolve where a period is paid: networks.toml entries, overridden by explicit flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payouts.batches import ChainConfig, checksummed
from payouts.errors import InputError
from payouts.safe_tx import MULTISEND_CALL_ONLY, SUPPORTED_SAFE_VERSIONS

NETWORKS_FILE = Path(__file__).resolve().parents[1] / "networks.toml"


@dataclass(frozen=True)
class ChainOptions:
    """The chain-related flags of `payouts run`, as given (None = not given)."""

    network: str | None = None
    chain_id: int | None = None
    safe: str | None = None
    token: str | None = None
    currency: str | None = None  # "erc20" | "native"
    safe_nonce: int | None = None
    safe_version: str = "1.4.1"
    multisend: str | None = None

    @property
    def any_given(self) -> bool:
        return any(
            v is not None for v in (self.network, self.chain_id, self.safe, self.token, self.multisend)
        )


def load_networks(path: Path = NETWORKS_FILE) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            f"cannot read networks file: {exc}", file=str(path), fix="fix networks.toml"
        ) from None
    return dict(data.get("networks", {}))


def resolve_chain(
    opts: ChainOptions, networks: dict[str, dict[str, Any]] | None = None
) -> ChainConfig | None:
    """The ChainConfig for this run, or None when no chain flag was given (no batches)."""
    if not opts.any_given:
        return None
    if opts.safe_version not in SUPPORTED_SAFE_VERSIONS:
        raise InputError(
            f"--safe-version {opts.safe_version!r} is not supported",
            column="--safe-version",
            fix=f"use one of {list(SUPPORTED_SAFE_VERSIONS)}",
        )
    entry: dict[str, Any] = {}
    if opts.network is not None:
        networks = load_networks() if networks is None else networks
        if opts.network not in networks:
            raise InputError(
                f"unknown network {opts.network!r}",
                column="--network",
                fix=f"use one of {sorted(networks)} or pass --chain-id",
            )
        entry = networks[opts.network]
    chain_id = opts.chain_id if opts.chain_id is not None else int(entry.get("chain_id", 0) or 0)
    if chain_id <= 0:
        raise InputError(
            "no chain id: the network has none configured and --chain-id was not given",
            column="--chain-id",
            fix="pass --chain-id N or fill chain_id in networks.toml",
        )
    currency = opts.currency or entry.get("currency", "erc20")
    if currency not in ("erc20", "native"):
        raise InputError(
            f"currency {currency!r} is not erc20 or native",
            column="--currency",
            fix="use --currency erc20 or --currency native",
        )
    if opts.safe is None:
        raise InputError(
            "--safe is required to build batches",
            column="--safe",
            fix="pass the paying Safe's address with --safe",
        )
    safe = checksummed(opts.safe, "--safe")
    token: str | None = None
    if currency == "erc20":
        raw_token = opts.token if opts.token is not None else (entry.get("token") or None)
        if raw_token is None:
            raise InputError(
                "--token is required on an ERC-20 network",
                column="--token",
                fix="pass the COR token address with --token (or set it in networks.toml)",
            )
        token = checksummed(raw_token, "--token")
    elif opts.token is not None:
        raise InputError(
            f"--token given but COR is the native currency on {opts.network or 'this chain'}",
            column="--token",
            fix="drop --token, or pass --currency erc20",
        )
    multisend_raw = opts.multisend
    if multisend_raw is None:
        configured = entry.get("multisend_call_only", {}) if entry else MULTISEND_CALL_ONLY
        multisend_raw = configured.get(opts.safe_version) or None
    if multisend_raw is None:
        raise InputError(
            f"no MultiSendCallOnly address for Safe {opts.safe_version} on {opts.network}",
            column="--multisend-call-only",
            fix="pass --multisend-call-only ADDR or fill it in networks.toml",
        )
    multisend = checksummed(multisend_raw, "--multisend-call-only")
    if opts.safe_nonce is not None and opts.safe_nonce < 0:
        raise InputError("--safe-nonce must be >= 0", column="--safe-nonce", fix="pass the Safe's next nonce")
    return ChainConfig(
        network=opts.network or f"chain-{chain_id}",
        chain_id=chain_id,
        safe=safe,
        token=token,
        safe_version=opts.safe_version,
        multisend=multisend,
        safe_nonce=opts.safe_nonce,
    )
