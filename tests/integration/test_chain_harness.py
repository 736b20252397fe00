"""The in-process chain harness executes Transaction Builder batch files like a Safe{Wallet} would."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from tests.support.chain import (
    MULTISEND_CALL_ONLY_130,
    MULTISEND_CALL_ONLY_141,
    LocalChain,
    SafeExecutionError,
    builder_calldata,
    calls_from_batch,
    start_chain,
)

pytestmark = pytest.mark.integration

VECTORS = Path("/work/shared/vectors/txbuilder")
COR = 10**18
TRANSFER_SELECTOR = function_signature_to_4byte_selector("transfer(address,uint256)")
TRANSFER_METHOD: dict[str, Any] = {
    "inputs": [
        {"internalType": "address", "name": "to", "type": "address"},
        {"internalType": "uint256", "name": "value", "type": "uint256"},
    ],
    "name": "transfer",
    "payable": False,
}


def recipient(i: int) -> ChecksumAddress:
    """A fresh address nobody holds a key for (never a funded tester account)."""
    return to_checksum_address(keccak(text=f"recipient-{i}")[-20:])


def erc20_tx(token: str, to: str, amount_wei: int) -> dict[str, Any]:
    return {
        "to": token,
        "value": "0",
        "data": None,
        "contractMethod": copy.deepcopy(TRANSFER_METHOD),
        "contractInputsValues": {"to": to, "value": str(amount_wei)},
    }


def native_tx(to: str, amount_wei: int) -> dict[str, Any]:
    return {
        "to": to,
        "value": str(amount_wei),
        "data": None,
        "contractMethod": None,
        "contractInputsValues": None,
    }


def batch_file(safe: str, chain_id: int, transactions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": 1735689600000,
        "meta": {
            "name": "COR payout test",
            "description": "",
            "txBuilderVersion": "1.18.3",
            "createdFromSafeAddress": safe,
            "createdFromOwnerAddress": "",
            "checksum": "0xnot-checked-here",
        },
        "transactions": transactions,
    }


@pytest.fixture(scope="module")
def chain() -> LocalChain:
    return start_chain()


@pytest.fixture(scope="module")
def safes(chain: LocalChain) -> dict[str, ChecksumAddress]:
    return {version: chain.create_safe(threshold=2, version=version) for version in ("1.4.1", "1.3.0")}


@pytest.fixture(autouse=True)
def isolated(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> Iterator[None]:
    snap = chain.snapshot()
    yield
    chain.revert(snap)


def test_safes_are_two_of_three(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> None:
    for version, safe in safes.items():
        assert chain.safe_version(safe) == version
        assert chain.safe_threshold(safe) == 2
        assert chain.safe_owners(safe) == [o.address for o in chain.owners]
        assert chain.safe_nonce(safe) == 0


@pytest.mark.parametrize(
    ("version", "multisend"),
    [("1.4.1", MULTISEND_CALL_ONLY_141), ("1.3.0", MULTISEND_CALL_ONLY_130), ("1.4.1", "deployed")],
)
def test_erc20_batch_pays_each_recipient_exactly(
    chain: LocalChain, safes: dict[str, ChecksumAddress], version: str, multisend: str
) -> None:
    safe = safes[version]
    multisend_address = chain.multisend_call_only if multisend == "deployed" else multisend
    funded = 1_000 * COR
    chain.fund_erc20(safe, funded)
    amounts = {recipient(1): 123 * COR + 456, recipient(2): 1, recipient(3): 250 * COR}
    batch = batch_file(safe, chain.chain_id, [erc20_tx(chain.token, to, a) for to, a in amounts.items()])
    expected_hash = chain.batch_safe_tx_hash(batch, safe=safe, nonce=0, multisend=multisend_address)

    result = chain.execute_batch_file(
        batch,
        safe=safe,
        nonce=0,
        multisend=multisend_address,
        signers=list(chain.owners[1:3]),
        safe_version=version,
    )

    assert result.status == 1
    assert result.num_calls == 3
    assert result.safe_tx_hash == expected_hash
    assert result.to == multisend_address and result.operation == 1
    for to, amount in amounts.items():
        assert chain.erc20_balance(to) == amount
    assert chain.erc20_balance(safe) == funded - sum(amounts.values())
    assert chain.safe_nonce(safe) == 1


@pytest.mark.parametrize("version", ["1.4.1", "1.3.0"])
def test_native_value_batch(chain: LocalChain, safes: dict[str, ChecksumAddress], version: str) -> None:
    safe = safes[version]
    chain.fund_native(safe, 10 * COR)
    amounts = {recipient(10): 10**16, recipient(11): 2 * COR + 7, recipient(12): 1}
    before = {to: chain.native_balance(to) for to in amounts}
    batch = batch_file(safe, chain.chain_id, [native_tx(to, a) for to, a in amounts.items()])

    result = chain.execute_batch_file(batch, safe=safe, nonce=0, multisend=MULTISEND_CALL_ONLY_141)

    assert result.status == 1
    assert all(call.data == b"" for call in result.calls)
    for to, amount in amounts.items():
        assert chain.native_balance(to) - before[to] == amount
    assert chain.native_balance(safe) == 10 * COR - sum(amounts.values())


def test_250_transfer_batch_fits_in_a_block(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> None:
    safe = safes["1.4.1"]
    amounts = {recipient(100 + i): (i + 1) * COR for i in range(250)}
    funded = sum(amounts.values()) + 5
    chain.fund_erc20(safe, funded)
    batch = batch_file(safe, chain.chain_id, [erc20_tx(chain.token, to, a) for to, a in amounts.items()])

    result = chain.execute_batch_file(batch, safe=safe, nonce=0, multisend=MULTISEND_CALL_ONLY_141)

    print(f"250 ERC-20 transfers: {result.gas_used} gas of a {result.block_gas_limit} block gas limit")
    assert result.num_calls == 250
    assert result.gas_used < result.block_gas_limit
    assert all(chain.erc20_balance(to) == a for to, a in amounts.items())
    assert chain.erc20_balance(safe) == 5


def test_overdrawing_batch_reverts_and_pays_nobody(
    chain: LocalChain, safes: dict[str, ChecksumAddress]
) -> None:
    safe = safes["1.4.1"]
    chain.fund_erc20(safe, 100 * COR)
    amounts = {recipient(20): 60 * COR, recipient(21): 40 * COR, recipient(22): 1}  # 1 wei too many
    batch = batch_file(safe, chain.chain_id, [erc20_tx(chain.token, to, a) for to, a in amounts.items()])

    with pytest.raises(SafeExecutionError, match="GS013") as excinfo:
        chain.execute_batch_file(batch, safe=safe, nonce=0, multisend=MULTISEND_CALL_ONLY_141)

    assert excinfo.value.result.status == 0
    assert all(chain.erc20_balance(to) == 0 for to in amounts)
    assert chain.erc20_balance(safe) == 100 * COR
    assert chain.safe_nonce(safe) == 0  # the nonce is not consumed: the same batch can be fixed and retried
    # check=False returns the failed result instead of raising
    failed = chain.execute_batch_file(
        batch, safe=safe, nonce=0, multisend=MULTISEND_CALL_ONLY_141, check=False
    )
    assert failed.status == 0 and failed.revert_reason is not None


def test_wrong_nonce_is_refused(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> None:
    safe = safes["1.4.1"]
    chain.fund_erc20(safe, 10 * COR)
    batch = batch_file(safe, chain.chain_id, [erc20_tx(chain.token, recipient(30), COR)])

    with pytest.raises(SafeExecutionError, match="GS026"):  # signatures over another nonce's hash
        chain.execute_batch_file(batch, safe=safe, nonce=1, multisend=MULTISEND_CALL_ONLY_141)
    assert chain.erc20_balance(recipient(30)) == 0


def test_transfer_erc20_from_safe(chain: LocalChain, safes: dict[str, ChecksumAddress]) -> None:
    safe = safes["1.3.0"]
    chain.fund_erc20(safe, 10 * COR)

    result = chain.transfer_erc20_from_safe(safe, recipient(40), 3 * COR)

    assert result.status == 1 and result.operation == 0 and result.to == chain.token
    assert chain.erc20_balance(recipient(40)) == 3 * COR
    assert chain.erc20_balance(safe) == 7 * COR
    assert chain.safe_nonce(safe) == 1


def test_mismatched_input_name_gives_empty_calldata(chain: LocalChain) -> None:
    """Builder behaviour: inputs are looked up BY NAME; a missing one silently yields calldata 0x."""
    good = erc20_tx(chain.token, recipient(50), 5 * COR)
    renamed = erc20_tx(chain.token, recipient(51), 5 * COR)
    renamed["contractInputsValues"] = {"recipient": recipient(51), "amount": str(5 * COR)}  # not to/value
    numeric = erc20_tx(chain.token, recipient(52), 5 * COR)
    numeric["contractInputsValues"]["value"] = 5 * COR  # a JSON number, not a string
    null_values = erc20_tx(chain.token, recipient(53), 5 * COR)
    null_values["contractInputsValues"] = None

    assert builder_calldata(good) == TRANSFER_SELECTOR + abi_encode(
        ["address", "uint256"], [recipient(50), 5 * COR]
    )
    assert builder_calldata(renamed) == b""
    assert builder_calldata(numeric) == b""
    assert builder_calldata(null_values) == b""
    calls = calls_from_batch(batch_file(recipient(0), chain.chain_id, [good, renamed]))
    assert [c.data == b"" for c in calls] == [False, True]
    assert calls[1].to == chain.token and calls[1].value == 0  # would call the token with no data


def test_builder_rules_on_real_exports() -> None:
    synthetic = json.loads((VECTORS / "synthetic_arb_erc20_transfers.json").read_text())
    calls = calls_from_batch(synthetic)
    assert calls[0].data == TRANSFER_SELECTOR + abi_encode(
        ["address", "uint256"], ["0x2222222222222222222222222222222222222222", 1500000]
    )
    assert (calls[2].value, calls[2].data) == (10**16, b"")  # native value transfer

    native = json.loads((VECTORS / "balancer_eth_native_value_bip433.json").read_text())
    deposit = next(tx for tx in native["transactions"] if tx["value"] != "0")
    assert builder_calldata(deposit) == function_signature_to_4byte_selector("deposit()")  # no inputs

    raw = json.loads((VECTORS / "balancer_op_rawdata_hedgey.json").read_text())
    first = raw["transactions"][0]
    assert builder_calldata(first) == bytes.fromhex(first["data"][2:])  # hex data wins


def test_single_transaction_batch_direct_call_vs_multisend(
    chain: LocalChain, safes: dict[str, ChecksumAddress]
) -> None:
    """Safe{Wallet} sends a 1-tx batch as a direct CALL: its safeTxHash differs from the MultiSend one."""
    safe = safes["1.4.1"]
    chain.fund_erc20(safe, 10 * COR)
    batch = batch_file(safe, chain.chain_id, [erc20_tx(chain.token, recipient(60), 2 * COR)])
    common: dict[str, Any] = {"safe": safe, "nonce": 0, "multisend": MULTISEND_CALL_ONLY_141}
    via_multisend = chain.batch_safe_tx_hash(batch, **common)
    direct = chain.batch_safe_tx_hash(batch, direct_single_call=True, **common)
    assert via_multisend != direct

    result = chain.execute_batch_file(batch, direct_single_call=True, **common)

    assert (result.safe_tx_hash, result.operation, result.to) == (direct, 0, chain.token)
    assert chain.erc20_balance(recipient(60)) == 2 * COR
