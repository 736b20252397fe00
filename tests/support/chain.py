"""In-process chain with real Safe contracts: the oracle that executes batch files.

Test-only and deliberately independent of the pipeline (no ``payouts`` / ``flows`` imports):
it rebuilds every call from a Safe Transaction Builder batch file alone, the way the builder
does on import, executes the batch as one DELEGATECALL to MultiSendCallOnly from a 2-of-3
Safe, and lets tests compare balances afterwards.

Contracts come from safe-eth-py's bundled artifacts (Safe 1.4.1 / 1.3.0 L2 singletons, their
proxy factories and fallback handlers, MultiSendCallOnly 1.4.1, the example ERC-20) and run on
web3's ``EthereumTesterProvider`` (py-evm). See ``/work/shared/notes/safe-eth-py-offline.md``.

Besides the MultiSendCallOnly deployed by the deployer, the 1.4.1 runtime code is placed in
the genesis state at the two canonical MultiSendCallOnly addresses (1.4.1 and 1.3.0), so that
files and safeTxHashes computed for the production addresses execute unchanged here.
(Side effect: eth-tester then lists 12 accounts; only the first 10 are funded.)

Accounts: eth-tester's default keys 1..10. ``deployer`` (key 1) deploys, funds and relays
every execTransaction; ``owners`` (keys 2, 3, 4) own the Safes. ``tx_gas`` defaults to the block
gas limit: gas is never estimated (py-evm estimation is slow), and a mined revert shows as
receipt status 0 (see :class:`SafeExecutionError`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import get_default_account_keys
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from safe_eth.eth import EthereumClient
from safe_eth.eth.contracts import (
    get_example_erc20_contract,
    get_multi_send_call_only_V1_4_1_contract,
    get_safe_V1_3_0_contract,
    get_safe_V1_4_1_contract,
)
from safe_eth.eth.contracts.abis import __file__ as _abis_init_file
from safe_eth.safe.compatibility_fallback_handler import (
    CompatibilityFallbackHandlerV130,
    CompatibilityFallbackHandlerV141,
)
from safe_eth.safe.multi_send import MultiSend, MultiSendOperation, MultiSendTx
from safe_eth.safe.proxy_factory import ProxyFactoryV130, ProxyFactoryV141
from safe_eth.safe.safe import SafeV130, SafeV141
from safe_eth.safe.safe_tx import SafeTx
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxReceipt

__all__ = [
    "MULTISEND_CALL_ONLY_130",
    "MULTISEND_CALL_ONLY_141",
    "NULL_ADDRESS",
    "SUPPORTED_SAFE_VERSIONS",
    "BatchCall",
    "ExecutionResult",
    "LocalChain",
    "SafeExecutionError",
    "builder_calldata",
    "calls_from_batch",
    "encode_multisend",
    "start_chain",
]

NULL_ADDRESS: ChecksumAddress = to_checksum_address("0x" + "00" * 20)
# Canonical MultiSendCallOnly addresses (spec section 3); the 1.4.1 runtime code is put at both.
MULTISEND_CALL_ONLY_141: ChecksumAddress = to_checksum_address("0x9641d764fc13c8B624c04430C7356C1C7C8102e2")
MULTISEND_CALL_ONLY_130: ChecksumAddress = to_checksum_address("0x40A2aCCbd92BCA938b02010E17A5b8929b49130D")
SUPPORTED_SAFE_VERSIONS: tuple[str, ...] = ("1.4.1", "1.3.0")

OPERATION_CALL = 0
OPERATION_DELEGATECALL = 1
ERC20_DECIMALS = 18
ERC20_SUPPLY_WEI = 10**12 * 10**ERC20_DECIMALS
# eth-tester default accounts are the private keys 1..10, each funded with 1,000,000 ETH.
_NUM_FUNDED_ACCOUNTS = 10
_PROXY_GAS = 1_000_000
_SIMPLE_TX_GAS = 200_000
# The Safe Transaction Builder refuses to encode these names (encodeToHexData -> '0x').
_NON_VALID_CONTRACT_METHODS = ("receive", "fallback")
_INT_TYPE = re.compile(r"^(u?int)([0-9]*)$")
_BYTES_N_TYPE = re.compile(r"^bytes([0-9]+)$")


class SafeExecutionError(AssertionError):
    """The Safe transaction was mined but reverted (receipt status 0)."""

    def __init__(self, message: str, result: ExecutionResult) -> None:
        super().__init__(message)
        self.result = result


class _EncodingError(ValueError):
    """A value the Transaction Builder could not encode (it then silently uses calldata '0x')."""


@dataclass(frozen=True)
class BatchCall:
    """One call of a batch as the Transaction Builder rebuilds it from the file."""

    to: ChecksumAddress
    value: int
    data: bytes


@dataclass(frozen=True)
class ExecutionResult:
    safe_tx_hash: str  # 0x-prefixed, lowercase hex (EIP-712 safeTxHash)
    tx_hash: str  # 0x-prefixed hash of the Ethereum transaction calling execTransaction
    status: int  # receipt status: 1 success, 0 reverted
    gas_used: int
    block_gas_limit: int
    num_calls: int  # number of calls packed in the MultiSend (1 for a plain Safe tx)
    safe_nonce: int  # the Safe nonce the transaction was signed for
    to: ChecksumAddress  # target of the Safe tx (MultiSendCallOnly for a batch)
    operation: int
    data: bytes  # Safe tx data (the multiSend(bytes) call for a batch)
    calls: tuple[BatchCall, ...] = ()
    revert_reason: str | None = None
    receipt: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# --------------------------------------------------------------------------------------------
# Batch file -> calls, exactly as the Transaction Builder does on import
# --------------------------------------------------------------------------------------------


def _parse_int(value: Any, type_: str) -> int:
    if not isinstance(value, str):  # the builder calls value.replace(...) -> TypeError -> '0x'
        raise _EncodingError(f"{type_} value is not a string: {value!r}")
    text = value.replace('"', "").replace("'", "").strip()
    if not text:
        raise _EncodingError(f"empty value for {type_}")
    try:
        number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError as exc:
        raise _EncodingError(f"invalid integer for {type_}: {value!r}") from exc
    match = _INT_TYPE.match(type_)
    assert match is not None
    bits = int(match.group(2) or "256")
    if match.group(1) == "uint":
        if not 0 <= number < 2**bits:
            raise _EncodingError(f"{number} out of range for {type_}")
    elif not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise _EncodingError(f"{number} out of range for {type_}")
    return number


def _parse_input(type_: str, value: Any) -> Any:
    """Mirror of the builder's ``parseInputValue`` for the scalar types a payout batch uses."""
    if type_ == "address":
        if not isinstance(value, str) or not re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", value.strip()):
            raise _EncodingError(f"invalid address: {value!r}")
        text = value.strip()
        return to_checksum_address(text if text.startswith("0x") else "0x" + text)
    if _INT_TYPE.match(type_):
        return _parse_int(value, type_)
    if type_ == "bool":
        if not isinstance(value, str):
            return bool(value)
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise _EncodingError(f"invalid bool: {value!r}")
    if type_ == "string":
        return value
    if type_ == "bytes" or _BYTES_N_TYPE.match(type_):
        try:
            return bytes(HexBytes(value))
        except (TypeError, ValueError) as exc:
            raise _EncodingError(f"invalid {type_}: {value!r}") from exc
    raise NotImplementedError(f"harness does not encode ABI type {type_!r} (arrays/tuples unsupported)")


def builder_calldata(tx: dict[str, Any]) -> bytes:
    """Calldata the Transaction Builder derives for one ``transactions[]`` entry.

    ``data || encodeToHexData(contractMethod, contractInputsValues) || '0x'``: a non-empty
    ``data`` string wins; otherwise the method is ABI-encoded with every input looked up BY NAME
    (``inputs[i].name``, or the index when the name is empty) in ``contractInputsValues``; a
    missing name, an unparsable value or a null ``contractMethod`` gives empty calldata, silently.
    """
    data = tx.get("data")
    if data:  # JS truthiness: null and "" fall through; "0x" is kept (and is empty calldata)
        return bytes(HexBytes(data))
    method = tx.get("contractMethod")
    if not method:
        return b""
    name = method.get("name")
    if not name or name in _NON_VALID_CONTRACT_METHODS:
        return b""
    inputs: list[dict[str, Any]] = method.get("inputs") or []
    values_by_name = tx.get("contractInputsValues")
    types = [str(item["type"]) for item in inputs]
    try:
        parsed: list[Any] = []
        for index, item in enumerate(inputs):
            if values_by_name is None:  # contractFieldsValues[name] -> TypeError -> '0x'
                raise _EncodingError("contractInputsValues is null")
            key = item.get("name") or str(index)
            raw = values_by_name.get(key) or ""
            parsed.append(_parse_input(str(item["type"]), raw))
    except _EncodingError:
        return b""
    selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
    return bytes(selector) + abi_encode(types, parsed)


def _parse_value(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


def calls_from_batch(batch: dict[str, Any]) -> list[BatchCall]:
    """Every call of a batch file, rebuilt from the file alone (see :func:`builder_calldata`)."""
    return [
        BatchCall(
            to=to_checksum_address(tx["to"]),
            value=_parse_value(tx.get("value")),
            data=builder_calldata(tx),
        )
        for tx in batch["transactions"]
    ]


def encode_multisend(calls: list[BatchCall], ethereum_client: EthereumClient, multisend: str) -> bytes:
    """``multiSend(bytes)`` calldata packing each call as operation CALL (safe-eth-py encoding)."""
    txs = [MultiSendTx(MultiSendOperation.CALL, c.to, c.value, c.data) for c in calls]
    data = bytes(MultiSend(ethereum_client, address=to_checksum_address(multisend)).build_tx_data(txs))
    packed = b"".join(bytes(t.encoded_data) for t in txs)
    assert data == bytes.fromhex("8d80ff0a") + abi_encode(["bytes"], [packed]), "MultiSend encoding mismatch"
    return data


# --------------------------------------------------------------------------------------------
# The chain
# --------------------------------------------------------------------------------------------


class _TesterEthereumClient(EthereumClient):
    """safe-eth-py client wired to an in-process web3 (no HTTP; batch-RPC features unavailable)."""

    def __init__(self, w3: Web3) -> None:
        super().__init__("http://127.0.0.1:9", retry_count=0)  # type: ignore[arg-type]
        self.w3 = w3
        self.slow_w3 = w3


def _multisend_runtime_code() -> bytes:
    artifact = Path(_abis_init_file).with_name("MultiSendCallOnly_V1_4_1.json")
    return bytes(HexBytes(json.loads(artifact.read_text(encoding="utf-8"))["deployedBytecode"]))


@dataclass
class LocalChain:
    w3: Web3
    ethereum_client: EthereumClient
    tester: EthereumTester
    deployer: LocalAccount
    owners: tuple[LocalAccount, ...]
    singletons: dict[str, ChecksumAddress]
    proxy_factories: dict[str, ChecksumAddress]
    fallback_handlers: dict[str, ChecksumAddress]
    multisend_call_only: ChecksumAddress  # deployed by the deployer from the bundled artifact
    token: ChecksumAddress
    chain_id: int
    block_gas_limit: int
    _salt: int = 0
    _safe_versions: dict[str, str] = field(default_factory=dict)

    # ---- contracts -------------------------------------------------------------------------

    @property
    def erc20(self) -> Contract:
        return get_example_erc20_contract(self.w3, self.token)

    def safe_contract(self, safe: str, version: str | None = None) -> Contract:
        version = version or self.safe_version(safe)
        getter = get_safe_V1_3_0_contract if version == "1.3.0" else get_safe_V1_4_1_contract
        return getter(self.w3, to_checksum_address(safe))

    def safe_version(self, safe: str) -> str:
        address = to_checksum_address(safe)
        if address not in self._safe_versions:
            self._safe_versions[address] = str(
                get_safe_V1_4_1_contract(self.w3, address).functions.VERSION().call()
            )
        return self._safe_versions[address]

    def safe_nonce(self, safe: str) -> int:
        return int(self.safe_contract(safe).functions.nonce().call())

    def safe_owners(self, safe: str) -> list[ChecksumAddress]:
        return [to_checksum_address(a) for a in self.safe_contract(safe).functions.getOwners().call()]

    def safe_threshold(self, safe: str) -> int:
        return int(self.safe_contract(safe).functions.getThreshold().call())

    # ---- snapshots -------------------------------------------------------------------------

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert(self, snap: int) -> None:
        self.tester.revert_to_snapshot(snap)

    # ---- raw transactions ------------------------------------------------------------------

    def _send(self, sender: LocalAccount, tx: dict[str, Any]) -> TxReceipt:
        tx = dict(tx)
        tx.setdefault("from", sender.address)
        tx.setdefault("value", 0)
        tx.setdefault("gas", _SIMPLE_TX_GAS)
        tx.setdefault("gasPrice", self.w3.eth.gas_price)
        tx.setdefault("chainId", self.chain_id)
        tx["nonce"] = self.w3.eth.get_transaction_count(sender.address)
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        return receipt

    # ---- Safes -----------------------------------------------------------------------------

    def create_safe(
        self,
        threshold: int = 2,
        owners: list[str] | None = None,
        version: str = "1.4.1",
    ) -> ChecksumAddress:
        """Deploy a Safe proxy (default: 2-of-3 with :attr:`owners`) through the proxy factory."""
        if version not in SUPPORTED_SAFE_VERSIONS:
            raise ValueError(f"unsupported Safe version {version!r}; use one of {SUPPORTED_SAFE_VERSIONS}")
        owner_addresses = [to_checksum_address(o) for o in (owners or [a.address for a in self.owners])]
        singleton_contract = (get_safe_V1_3_0_contract if version == "1.3.0" else get_safe_V1_4_1_contract)(
            self.w3
        )
        initializer = HexBytes(
            singleton_contract.encode_abi(
                "setup",
                args=[
                    owner_addresses,
                    threshold,
                    NULL_ADDRESS,
                    b"",
                    self.fallback_handlers[version],
                    NULL_ADDRESS,
                    0,
                    NULL_ADDRESS,
                ],
            )
        )
        factory_cls = ProxyFactoryV130 if version == "1.3.0" else ProxyFactoryV141
        factory = factory_cls(self.proxy_factories[version], self.ethereum_client)
        self._salt += 1
        sent = factory.deploy_proxy_contract_with_nonce(
            self.deployer,
            self.singletons[version],
            initializer=initializer,
            salt_nonce=self._salt,
            gas=_PROXY_GAS,
            gas_price=self.w3.eth.gas_price,
        )
        receipt = self.w3.eth.get_transaction_receipt(sent.tx_hash)
        assert receipt["status"] == 1, f"Safe proxy deployment failed: {receipt}"
        safe = to_checksum_address(sent.contract_address)
        self._safe_versions[safe] = version
        assert self.safe_contract(safe).functions.VERSION().call() == version
        assert self.safe_threshold(safe) == threshold
        return safe

    # ---- funding and balances --------------------------------------------------------------

    def fund_erc20(self, to: str, amount_wei: int) -> None:
        data = self.erc20.encode_abi("transfer", args=[to_checksum_address(to), amount_wei])
        receipt = self._send(self.deployer, {"to": self.token, "data": data})
        assert receipt["status"] == 1, "ERC-20 funding failed"

    def fund_native(self, to: str, amount_wei: int) -> None:
        receipt = self._send(self.deployer, {"to": to_checksum_address(to), "value": amount_wei})
        assert receipt["status"] == 1, "native funding failed"

    def erc20_balance(self, addr: str) -> int:
        return int(self.erc20.functions.balanceOf(to_checksum_address(addr)).call())

    def native_balance(self, addr: str) -> int:
        return int(self.w3.eth.get_balance(to_checksum_address(addr)))

    # ---- executing Safe transactions -------------------------------------------------------

    def build_safe_tx(
        self,
        *,
        safe: str,
        to: str,
        value: int,
        data: bytes,
        operation: int,
        nonce: int,
        safe_version: str,
    ) -> SafeTx:
        """A SafeTx with safeTxGas/baseGas/gasPrice 0 and no gas token / refund receiver."""
        safe_tx = SafeTx(
            self.ethereum_client,
            to_checksum_address(safe),
            to_checksum_address(to),
            value,
            data,
            operation,
            0,
            0,
            0,
            NULL_ADDRESS,
            NULL_ADDRESS,
            safe_nonce=nonce,
            safe_version=safe_version,
            chain_id=self.chain_id,
        )
        on_chain = (
            self.safe_contract(safe, safe_version)
            .functions.getTransactionHash(
                to_checksum_address(to), value, data, operation, 0, 0, 0, NULL_ADDRESS, NULL_ADDRESS, nonce
            )
            .call()
        )
        assert HexBytes(on_chain) == safe_tx.safe_tx_hash, (
            f"safe-eth-py safeTxHash {safe_tx.safe_tx_hash.to_0x_hex()} != "
            f"Safe.getTransactionHash {HexBytes(on_chain).to_0x_hex()}"
        )
        return safe_tx

    def exec_safe_tx(
        self,
        *,
        safe: str,
        to: str,
        value: int = 0,
        data: bytes = b"",
        operation: int = OPERATION_CALL,
        nonce: int | None = None,
        signers: list[LocalAccount] | None = None,
        safe_version: str | None = None,
        tx_gas: int | None = None,
        check: bool = True,
        calls: tuple[BatchCall, ...] = (),
    ) -> ExecutionResult:
        """Sign a Safe tx with ``signers`` (default: the first two owners) and execute it.

        ``tx_gas`` defaults to the block gas limit (never estimated: py-evm estimation is slow).
        With ``check`` a reverted execution raises :class:`SafeExecutionError`.
        """
        safe_version = safe_version or self.safe_version(safe)
        nonce = self.safe_nonce(safe) if nonce is None else nonce
        signer_accounts = signers if signers is not None else list(self.owners[:2])
        safe_tx = self.build_safe_tx(
            safe=safe,
            to=to,
            value=value,
            data=data,
            operation=operation,
            nonce=nonce,
            safe_version=safe_version,
        )
        for signer in signer_accounts:
            safe_tx.sign(signer.key.to_0x_hex())
        signatures = safe_tx.signatures
        gas = tx_gas or self.block_gas_limit
        tx_hash, _ = safe_tx.execute(self.deployer.key.to_0x_hex(), tx_gas=gas, tx_nonce=None)
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        status = int(receipt["status"])
        reason: str | None = None
        if status != 1:
            reason = self._revert_reason(safe_tx, signatures, gas)
        else:
            self._assert_execution_success(safe, receipt, safe_tx.safe_tx_hash)
        result = ExecutionResult(
            safe_tx_hash=safe_tx.safe_tx_hash.to_0x_hex(),
            tx_hash=HexBytes(tx_hash).to_0x_hex(),
            status=status,
            gas_used=int(receipt["gasUsed"]),
            block_gas_limit=self.block_gas_limit,
            num_calls=len(calls) if calls else 1,
            safe_nonce=nonce,
            to=to_checksum_address(to),
            operation=operation,
            data=bytes(data),
            calls=calls,
            revert_reason=reason,
            receipt=dict(receipt),
        )
        if check and status != 1:
            raise SafeExecutionError(
                f"Safe tx {result.safe_tx_hash} (nonce {nonce}) reverted: {reason or 'unknown reason'}; "
                f"gas used {result.gas_used} of {gas}",
                result,
            )
        return result

    def _assert_execution_success(self, safe: str, receipt: TxReceipt, safe_tx_hash: bytes) -> None:
        """A mined execTransaction can still fail inside (safeTxGas > 0): require ExecutionSuccess."""
        contract = self.safe_contract(safe)
        events = [
            e
            for e in contract.events.ExecutionSuccess().process_receipt(receipt, errors=DISCARD)
            if e["address"] == contract.address
        ]
        hashes = [HexBytes(e["args"]["txHash"]) for e in events]
        assert hashes == [HexBytes(safe_tx_hash)], (
            f"expected one ExecutionSuccess for the safeTxHash, got {hashes}"
        )

    def _revert_reason(self, safe_tx: SafeTx, signatures: bytes, gas: int) -> str | None:
        """Replay the reverted execTransaction as an eth_call to read the revert message."""
        safe_tx.signatures = signatures
        try:
            safe_tx.w3_tx.call({"from": self.deployer.address, "gas": gas})
        except Exception as exc:
            return str(exc)
        return None

    def batch_safe_tx_params(
        self, batch: dict[str, Any], *, multisend: str, direct_single_call: bool = False
    ) -> tuple[ChecksumAddress, int, bytes, int, tuple[BatchCall, ...]]:
        """``(to, value, data, operation, calls)`` of the Safe tx a batch file becomes.

        Default: always one DELEGATECALL to ``multisend`` (MultiSendCallOnly) packing every call
        as operation CALL, value 0 on the outer tx. Safe{Wallet} itself (ReviewSafeAppsTx:
        ``txs.length > 1 ? createMultiSendCallOnlyTx(txs) : createTx(txs[0])``) turns a
        ONE-transaction batch into a direct CALL instead; ``direct_single_call=True`` mirrors that.
        """
        calls = tuple(calls_from_batch(batch))
        if not calls:
            raise ValueError("batch has no transactions")
        if direct_single_call and len(calls) == 1:
            return calls[0].to, calls[0].value, calls[0].data, OPERATION_CALL, calls
        data = encode_multisend(list(calls), self.ethereum_client, multisend)
        return to_checksum_address(multisend), 0, data, OPERATION_DELEGATECALL, calls

    def execute_batch_file(
        self,
        batch: dict[str, Any],
        *,
        safe: str,
        nonce: int,
        multisend: str,
        signers: list[LocalAccount] | None = None,
        safe_version: str | None = None,
        tx_gas: int | None = None,
        check: bool = True,
        direct_single_call: bool = False,
    ) -> ExecutionResult:
        """Execute a Transaction Builder batch file from ``safe`` as the Safe{Wallet} would.

        Calls are rebuilt from the file alone (:func:`calls_from_batch`), packed for
        MultiSendCallOnly (operation CALL each) and executed as one DELEGATECALL Safe tx with
        safeTxGas/baseGas/gasPrice 0 at ``nonce``, signed by ``signers`` (default: two owners).
        The safeTxHash computed by safe-eth-py is asserted equal to ``Safe.getTransactionHash``.
        ``tx_gas`` defaults to the block gas limit; with ``check`` a revert raises
        :class:`SafeExecutionError` (its ``.result`` holds the failed :class:`ExecutionResult`).
        """
        to, value, data, operation, calls = self.batch_safe_tx_params(
            batch, multisend=multisend, direct_single_call=direct_single_call
        )
        return self.exec_safe_tx(
            safe=safe,
            to=to,
            value=value,
            data=data,
            operation=operation,
            nonce=nonce,
            signers=signers,
            safe_version=safe_version,
            tx_gas=tx_gas,
            check=check,
            calls=calls,
        )

    def batch_safe_tx_hash(
        self,
        batch: dict[str, Any],
        *,
        safe: str,
        nonce: int,
        multisend: str,
        safe_version: str | None = None,
        direct_single_call: bool = False,
    ) -> str:
        """safeTxHash of a batch file without executing it (also checked against the contract)."""
        to, value, data, operation, _ = self.batch_safe_tx_params(
            batch, multisend=multisend, direct_single_call=direct_single_call
        )
        safe_tx = self.build_safe_tx(
            safe=safe,
            to=to,
            value=value,
            data=data,
            operation=operation,
            nonce=nonce,
            safe_version=safe_version or self.safe_version(safe),
        )
        return safe_tx.safe_tx_hash.to_0x_hex()

    def transfer_erc20_from_safe(
        self,
        safe: str,
        to: str,
        amount_wei: int,
        *,
        token: str | None = None,
        nonce: int | None = None,
        signers: list[LocalAccount] | None = None,
        check: bool = True,
    ) -> ExecutionResult:
        """A single ``transfer(to, amount)`` from the Safe as a plain CALL Safe tx (2 owners sign)."""
        token_address = to_checksum_address(token or self.token)
        data = bytes(
            HexBytes(
                get_example_erc20_contract(self.w3, token_address).encode_abi(
                    "transfer", args=[to_checksum_address(to), amount_wei]
                )
            )
        )
        return self.exec_safe_tx(
            safe=safe,
            to=token_address,
            data=data,
            operation=OPERATION_CALL,
            nonce=nonce,
            signers=signers,
            check=check,
            calls=(BatchCall(token_address, 0, data),),
        )


def start_chain(gas_limit: int = 60_000_000) -> LocalChain:
    """Start a py-evm chain and deploy the Safe stack, MultiSendCallOnly and an 18-decimal ERC-20."""
    keys = get_default_account_keys(quantity=_NUM_FUNDED_ACCOUNTS)
    genesis_state: dict[bytes, dict[str, Any]] = dict(
        PyEVMBackend.generate_genesis_state(num_accounts=len(keys))
    )
    runtime = _multisend_runtime_code()
    for address in (MULTISEND_CALL_ONLY_141, MULTISEND_CALL_ONLY_130):
        genesis_state[bytes(HexBytes(address))] = {"balance": 0, "storage": {}, "code": runtime, "nonce": 1}
    backend = PyEVMBackend(
        genesis_parameters=PyEVMBackend.generate_genesis_params(overrides={"gas_limit": gas_limit}),
        genesis_state=genesis_state,
    )
    tester = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(tester))
    client = _TesterEthereumClient(w3)

    accounts: list[LocalAccount] = [cast(LocalAccount, Account.from_key(k.to_bytes())) for k in keys]
    deployer, owners = accounts[0], tuple(accounts[1:4])

    def deployed(sent: Any) -> ChecksumAddress:
        return to_checksum_address(sent.contract_address)

    singletons = {
        "1.4.1": deployed(SafeV141.deploy_contract(client, deployer)),
        "1.3.0": deployed(SafeV130.deploy_contract(client, deployer)),
    }
    factories = {
        "1.4.1": deployed(ProxyFactoryV141.deploy_contract(client, deployer)),
        "1.3.0": deployed(ProxyFactoryV130.deploy_contract(client, deployer)),
    }
    handlers = {
        "1.4.1": deployed(CompatibilityFallbackHandlerV141.deploy_contract(client, deployer)),
        "1.3.0": deployed(CompatibilityFallbackHandlerV130.deploy_contract(client, deployer)),
    }
    multisend_data = (
        get_multi_send_call_only_V1_4_1_contract(w3)
        .constructor()
        .build_transaction({"gas": 1, "gasPrice": 1})["data"]
    )
    multisend = deployed(client.deploy_and_initialize_contract(deployer, multisend_data))
    erc20_data = (
        get_example_erc20_contract(w3)
        .constructor("Cortensor Test", "COR", ERC20_DECIMALS, deployer.address, ERC20_SUPPLY_WEI)
        .build_transaction({"gas": 1, "gasPrice": 1})["data"]
    )
    token = deployed(client.deploy_and_initialize_contract(deployer, erc20_data))

    chain = LocalChain(
        w3=w3,
        ethereum_client=client,
        tester=tester,
        deployer=deployer,
        owners=owners,
        singletons=singletons,
        proxy_factories=factories,
        fallback_handlers=handlers,
        multisend_call_only=multisend,
        token=token,
        chain_id=int(w3.eth.chain_id),
        block_gas_limit=int(w3.eth.get_block("latest")["gasLimit"]),
    )
    assert chain.erc20.functions.decimals().call() == ERC20_DECIMALS
    assert w3.eth.get_code(MULTISEND_CALL_ONLY_141) == w3.eth.get_code(multisend)
    return chain
