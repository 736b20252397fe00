"""The MultiSend payload and the EIP-712 safeTxHash a signer checks on the hardware wallet.

Pure module on top of safe-eth-py, no RPC: a batch is executed as one DELEGATECALL from the Safe
to MultiSendCallOnly, whose ``multiSend(bytes)`` argument packs each transfer as
``operation (1 byte, 0 = CALL) | to (20) | value (32) | data length (32) | data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak
from safe_eth.eth.constants import NULL_ADDRESS
from safe_eth.safe.enums import SafeOperationEnum
from safe_eth.safe.multi_send import MultiSendOperation, MultiSendTx
from safe_eth.safe.safe_tx import SafeTx

from payouts.addresses import is_checksummed

__all__ = [
    "MULTISEND_CALL_ONLY",
    "MULTISEND_SELECTOR",
    "SUPPORTED_SAFE_VERSIONS",
    "SafeTxHashes",
    "WalletTx",
    "multisend_call_data",
    "safe_tx_hash",
    "safe_tx_hash_of",
    "safe_tx_hashes",
    "wallet_transaction",
]

#: Canonical MultiSendCallOnly deployments by Safe version (the 1.4.1 one also works with 1.3.0 Safes).
MULTISEND_CALL_ONLY: dict[str, str] = {
    "1.4.1": "0x9641d764fc13c8B624c04430C7356C1C7C8102e2",
    "1.3.0": "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D",
}
SUPPORTED_SAFE_VERSIONS = ("1.3.0", "1.4.1")
MULTISEND_SELECTOR = function_signature_to_4byte_selector("multiSend(bytes)")  # 0x8d80ff0a

_MAX_UINT256 = 2**256 - 1


def _require_eip55(value: object, what: str) -> str:
    if not is_checksummed(value):
        raise ValueError(f"{what} {value!r} is not an EIP-55 checksummed address")
    return value  # type: ignore[return-value]


def _require_uint(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT256:
        raise ValueError(f"{what} must be an int in 0..2**256-1, got {value!r}")
    return value


def multisend_call_data(txs: Sequence[tuple[str, int, bytes]]) -> bytes:
    """Call data of ``MultiSendCallOnly.multiSend(bytes transactions)`` for `txs`.

    Each ``(to, value_wei, calldata)`` is packed by safe-eth-py's ``MultiSendTx.encoded_data`` as
    a CALL (operation 0); the concatenation is ABI-encoded as ``bytes`` behind selector
    ``0x8d80ff0a``. (``MultiSend(...).build_tx_data`` gives the same bytes but needs a client
    or chain id for web3; this path needs neither.)
    """
    if len(txs) == 0:
        raise ValueError("a MultiSend needs at least one transaction")
    parts = []
    for i, (to, value, data) in enumerate(txs):
        _require_eip55(to, f"txs[{i}].to")
        _require_uint(value, f"txs[{i}].value")
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"txs[{i}].data must be bytes, got {type(data).__name__}")
        parts.append(bytes(MultiSendTx(MultiSendOperation.CALL, to, value, bytes(data)).encoded_data))
    return MULTISEND_SELECTOR + abi_encode(["bytes"], [b"".join(parts)])


@dataclass(frozen=True)
class WalletTx:
    """The one Safe transaction Safe{Wallet} builds from a Transaction Builder batch."""

    to: str
    value: int
    data: bytes
    operation: int  # 0 = CALL, 1 = DELEGATECALL

    @property
    def is_multisend(self) -> bool:
        return self.operation == int(SafeOperationEnum.DELEGATE_CALL)


def wallet_transaction(txs: Sequence[tuple[str, int, bytes]], multisend: str) -> WalletTx:
    """What Safe{Wallet} signs for a batch of calls.

    The wallet wraps two or more calls in one DELEGATECALL to MultiSendCallOnly, but sends a
    batch of exactly one call directly (a CALL to its target): its code is
    ``txs.length > 1 ? createMultiSendCallOnlyTx(txs) : createTx(txs[0])``. The safeTxHash we
    print must be the one the hardware wallet shows, so we follow the same rule.
    """
    if len(txs) == 1:
        to, value, data = txs[0]
        _require_eip55(to, "txs[0].to")
        _require_uint(value, "txs[0].value")
        return WalletTx(to, value, bytes(data), int(SafeOperationEnum.CALL))
    _require_eip55(multisend, "multisend")
    return WalletTx(multisend, 0, multisend_call_data(txs), int(SafeOperationEnum.DELEGATE_CALL))


def safe_tx_hash_of(*, chain_id: int, safe: str, safe_version: str, nonce: int, tx: WalletTx) -> bytes:
    """EIP-712 safeTxHash (32 bytes) of `tx` at Safe nonce `nonce` (no gas refund parameters).

    safeTxGas = baseGas = gasPrice = 0 and the zero address as gas token and refund receiver.
    Computed by safe-eth-py's ``SafeTx`` with chain id, version and nonce given, so it never
    touches a node (``ethereum_client=None``). Safe >= 1.3.0 puts ``chainId`` in the EIP-712
    domain; only 1.3.0 and 1.4.1 are accepted.
    """
    if safe_version not in SUPPORTED_SAFE_VERSIONS:
        raise ValueError(
            f"safe_version {safe_version!r} not supported (use one of {SUPPORTED_SAFE_VERSIONS})"
        )
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise ValueError(f"chain_id must be a positive int, got {chain_id!r}")
    _require_uint(nonce, "nonce")
    _require_eip55(safe, "safe")
    _require_eip55(tx.to, "to")
    _require_uint(tx.value, "value")
    if not isinstance(tx.data, bytes | bytearray):
        raise ValueError(f"data must be bytes, got {type(tx.data).__name__}")
    safe_tx = SafeTx(
        None,  # type: ignore[arg-type]  # no client: chain id, nonce and version are given
        safe,  # type: ignore[arg-type]
        tx.to,  # type: ignore[arg-type]
        tx.value,
        bytes(tx.data),
        SafeOperationEnum(tx.operation),
        0,
        0,
        0,
        NULL_ADDRESS,
        NULL_ADDRESS,
        safe_nonce=nonce,
        safe_version=safe_version,
        chain_id=chain_id,
    )
    return bytes(safe_tx.safe_tx_hash)


@dataclass(frozen=True)
class SafeTxHashes:
    """What hardware wallets show for a Safe transaction: the safeTxHash, or its two EIP-712 parts."""

    domain_hash: bytes
    message_hash: bytes
    safe_tx_hash: bytes


DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)


def safe_tx_hashes(*, chain_id: int, safe: str, safe_version: str, nonce: int, tx: WalletTx) -> SafeTxHashes:
    """Domain hash, message hash and safeTxHash = keccak(0x1901 | domain | message).

    The two parts are derived here with eth-abi (Safe >= 1.3.0 domain: chainId + verifyingContract)
    and the result is checked against safe-eth-py's safeTxHash, so the printed parts can never
    disagree with the hash.
    """
    full = safe_tx_hash_of(chain_id=chain_id, safe=safe, safe_version=safe_version, nonce=nonce, tx=tx)
    domain = keccak(abi_encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, safe]))
    message = keccak(
        abi_encode(
            [
                "bytes32",
                "address",
                "uint256",
                "bytes32",
                "uint8",
                "uint256",
                "uint256",
                "uint256",
                "address",
                "address",
                "uint256",
            ],
            [
                SAFE_TX_TYPEHASH,
                tx.to,
                tx.value,
                keccak(bytes(tx.data)),
                tx.operation,
                0,
                0,
                0,
                NULL_ADDRESS,
                NULL_ADDRESS,
                nonce,
            ],
        )
    )
    if keccak(b"\x19\x01" + domain + message) != full:
        raise AssertionError("EIP-712 parts disagree with safe-eth-py's safeTxHash")
    return SafeTxHashes(domain, message, full)


def safe_tx_hash(
    *,
    chain_id: int,
    safe: str,
    safe_version: str,
    nonce: int,
    multisend: str,
    data: bytes,
) -> bytes:
    """safeTxHash of a DELEGATECALL (operation 1) to `multisend` with value 0 and `data`."""
    return safe_tx_hash_of(
        chain_id=chain_id,
        safe=safe,
        safe_version=safe_version,
        nonce=nonce,
        tx=WalletTx(multisend, 0, bytes(data), int(SafeOperationEnum.DELEGATE_CALL)),
    )
