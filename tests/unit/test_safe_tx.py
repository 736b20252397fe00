"""MultiSend payload and safeTxHash, checked against hand-written bytes and an independent EIP-712."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from safe_eth.eth.contracts import get_multi_send_call_only_V1_4_1_contract
from safe_eth.safe.multi_send import MultiSend, MultiSendOperation
from web3 import Web3

from payouts import safe_tx as stx
from payouts import txbuilder as tb

pytestmark = pytest.mark.unit

SAFE = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
TOKEN = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
R2 = "0x2222222222222222222222222222222222222222"
R3 = "0x3333333333333333333333333333333333333333"
ZERO = "0x" + "00" * 20

TWO_SMALL = [(R2, 0, bytes.fromhex("aabb")), (R3, 1, b"")]
# Spelled out by hand: op (1 byte) | to (20) | value (32) | data length (32) | data
PACKED_HAND = (
    "00"
    + "22" * 20
    + "00" * 32
    + "00" * 31
    + "02"
    + "aabb"  # 87 bytes
    + "00"
    + "33" * 20
    + "00" * 31
    + "01"
    + "00" * 32  # 85 bytes, no data
)
CALLDATA_HAND = (
    "8d80ff0a"  # multiSend(bytes)
    + "00" * 31
    + "20"  # offset of the bytes argument
    + "00" * 31
    + "ac"  # its length: 172
    + PACKED_HAND
    + "00" * 20  # right-padded to 192 bytes
)


def test_multisend_packing_exact_bytes():
    assert len(bytes.fromhex(PACKED_HAND)) == 172
    assert stx.multisend_call_data(TWO_SMALL) == bytes.fromhex(CALLDATA_HAND)


def test_multisend_matches_web3_contract_encoding_and_decodes_back():
    data = stx.multisend_call_data(TWO_SMALL)
    contract = get_multi_send_call_only_V1_4_1_contract(Web3())
    assert "0x" + data.hex() == contract.encode_abi("multiSend", args=[bytes.fromhex(PACKED_HAND)])
    (packed,) = abi_decode(["bytes"], data[4:])
    decoded = MultiSend.from_bytes(packed)
    assert [(t.operation, t.to, t.value, bytes(t.data)) for t in decoded] == [
        (MultiSendOperation.CALL, R2, 0, bytes.fromhex("aabb")),
        (MultiSendOperation.CALL, R3, 1, b""),
    ]


def test_multisend_of_a_built_erc20_batch():
    transfers = [tb.BatchTransfer(R2, 1_500_000), tb.BatchTransfer(R3, 250_000_000)]
    batch = tb.build_erc20_batch(
        chain_id=42161, safe=SAFE, token=TOKEN, transfers=transfers, name="n", description="", created_at_ms=0
    )
    data = stx.multisend_call_data(tb.transactions_from_batch(batch))
    (packed,) = abi_decode(["bytes"], data[4:])
    assert len(packed) == 2 * (1 + 20 + 32 + 32 + 68)
    for tx, t in zip(MultiSend.from_bytes(packed), transfers, strict=True):
        assert tx.operation == MultiSendOperation.CALL and tx.to == TOKEN and tx.value == 0
        assert bytes(tx.data) == bytes.fromhex("a9059cbb") + abi_encode(
            ["address", "uint256"], [t.recipient, t.amount_wei]
        )


def test_multisend_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        stx.multisend_call_data([])
    with pytest.raises(ValueError, match="EIP-55"):
        stx.multisend_call_data([(TOKEN.lower(), 0, b"")])
    with pytest.raises(ValueError, match="value"):
        stx.multisend_call_data([(TOKEN, -1, b"")])
    with pytest.raises(ValueError, match="bytes"):
        stx.multisend_call_data([(TOKEN, 0, "0xaabb")])  # type: ignore[list-item]


# --------------------------------------------------------------------------------------------
# safeTxHash
# --------------------------------------------------------------------------------------------

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)


def independent_safe_tx_hash(
    chain_id: int, safe: str, to: str, data: bytes, operation: int, nonce: int
) -> bytes:
    domain_separator = keccak(
        abi_encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, safe])
    )
    struct_hash = keccak(
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
            [SAFE_TX_TYPEHASH, to, 0, keccak(data), operation, 0, 0, 0, ZERO, ZERO, nonce],
        )
    )
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def test_typehashes_are_the_safe_contract_constants():
    # DOMAIN_SEPARATOR_TYPEHASH and SAFE_TX_TYPEHASH as hard-coded in Safe.sol 1.3.0 / 1.4.1
    assert DOMAIN_TYPEHASH.hex() == "47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218"
    assert SAFE_TX_TYPEHASH.hex() == "bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8"


@pytest.mark.parametrize("version", ["1.3.0", "1.4.1"])
@pytest.mark.parametrize(("chain_id", "nonce"), [(42161, 0), (1, 7), (421614, 2**64)])
def test_safe_tx_hash_equals_independent_eip712(version: str, chain_id: int, nonce: int):
    multisend = stx.MULTISEND_CALL_ONLY[version]
    data = stx.multisend_call_data(TWO_SMALL)
    got = stx.safe_tx_hash(
        chain_id=chain_id, safe=SAFE, safe_version=version, nonce=nonce, multisend=multisend, data=data
    )
    assert isinstance(got, bytes) and len(got) == 32
    assert got == independent_safe_tx_hash(chain_id, SAFE, multisend, data, 1, nonce)


def test_safe_tx_hash_equals_eth_account_typed_data():
    data = stx.multisend_call_data(TWO_SMALL)
    multisend = stx.MULTISEND_CALL_ONLY["1.4.1"]
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "SafeTx": [
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "data", "type": "bytes"},
                {"name": "operation", "type": "uint8"},
                {"name": "safeTxGas", "type": "uint256"},
                {"name": "baseGas", "type": "uint256"},
                {"name": "gasPrice", "type": "uint256"},
                {"name": "gasToken", "type": "address"},
                {"name": "refundReceiver", "type": "address"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "SafeTx",
        "domain": {"chainId": 42161, "verifyingContract": SAFE},
        "message": {
            "to": multisend,
            "value": 0,
            "data": data,
            "operation": 1,
            "safeTxGas": 0,
            "baseGas": 0,
            "gasPrice": 0,
            "gasToken": ZERO,
            "refundReceiver": ZERO,
            "nonce": 3,
        },
    }
    signable = encode_typed_data(full_message=message)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    got = stx.safe_tx_hash(
        chain_id=42161, safe=SAFE, safe_version="1.4.1", nonce=3, multisend=multisend, data=data
    )
    assert got == expected


def test_safe_tx_hash_depends_on_every_parameter():
    data = stx.multisend_call_data(TWO_SMALL)
    base = {
        "chain_id": 42161,
        "safe": SAFE,
        "safe_version": "1.4.1",
        "nonce": 5,
        "multisend": stx.MULTISEND_CALL_ONLY["1.4.1"],
        "data": data,
    }
    h = stx.safe_tx_hash(**base)
    for change in (
        {"chain_id": 42162},
        {"safe": R2},
        {"nonce": 6},
        {"multisend": stx.MULTISEND_CALL_ONLY["1.3.0"]},
        {"data": stx.multisend_call_data(TWO_SMALL[:1])},
    ):
        assert stx.safe_tx_hash(**{**base, **change}) != h, change
    # 1.3.0 and 1.4.1 share the domain and the SafeTx type: the version alone does not change the hash.
    assert stx.safe_tx_hash(**{**base, "safe_version": "1.3.0"}) == h


def test_safe_tx_hash_rejects_bad_input():
    data = stx.multisend_call_data(TWO_SMALL)
    ok = {
        "chain_id": 1,
        "safe": SAFE,
        "safe_version": "1.4.1",
        "nonce": 0,
        "multisend": stx.MULTISEND_CALL_ONLY["1.4.1"],
        "data": data,
    }
    with pytest.raises(ValueError, match="safe_version"):
        stx.safe_tx_hash(**{**ok, "safe_version": "1.2.0"})
    with pytest.raises(ValueError, match="EIP-55"):
        stx.safe_tx_hash(**{**ok, "multisend": stx.MULTISEND_CALL_ONLY["1.4.1"].lower()})
    with pytest.raises(ValueError, match="EIP-55"):
        stx.safe_tx_hash(**{**ok, "safe": SAFE.lower()})
    with pytest.raises(ValueError, match="nonce"):
        stx.safe_tx_hash(**{**ok, "nonce": -1})
    with pytest.raises(ValueError, match="chain_id"):
        stx.safe_tx_hash(**{**ok, "chain_id": 0})


def test_multisend_addresses_are_eip55_and_known_to_safe_eth_py():
    for address in stx.MULTISEND_CALL_ONLY.values():
        assert Web3.to_checksum_address(address) == address
        assert address in MultiSend.MULTISEND_CALL_ONLY_ADDRESSES
