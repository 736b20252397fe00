"""Transaction Builder batch files: the builder's checksum, file shape, calldata, CSV Airdrop."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_abi import encode as abi_encode
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from payouts import txbuilder as tb
from payouts.txbuilder import BatchTransfer

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "txbuilder"

# The README's table: file -> must its meta.checksum verify?
VECTOR_TABLE = {
    "balancer_arb_bip322_erc20_transfers.json": True,
    "balancer_arb_payroll_feb2024.json": True,
    "balancer_arb_v1182_bip885.json": True,
    "balancer_eth_native_value_bip433.json": True,
    "balancer_op_rawdata_hedgey.json": True,
    "safe_cli_nodejs_doc_example_v1182.json": True,
    "synthetic_arb_erc20_transfers.json": True,
    "synthetic_arbsep_rawdata.json": True,
    "derived_renamed_still_valid.json": True,
    "derived_tampered_amount_invalid.json": False,
    "derived_data_key_removed_invalid.json": False,
}

SAFE = "0x1111111111111111111111111111111111111111"
TOKEN = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"  # EIP-55 mixed case
R2 = "0x2222222222222222222222222222222222222222"
R3 = "0x3333333333333333333333333333333333333333"
ALICE = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
TWO = [BatchTransfer(R2, 1_500_000), BatchTransfer(R3, 250_000_000)]

ERC20_ABI = [
    {
        "name": "transfer",
        "type": "function",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_bytes())


def golden_batch(**overrides: object) -> dict:
    kwargs: dict = {
        "chain_id": 42161,
        "safe": SAFE,
        "token": TOKEN,
        "transfers": TWO,
        "name": "COR payout 2025-03 (1/1)",
        "description": "2 transfers, 251.5 COR",
        "created_at_ms": 1743465600000,
    }
    kwargs.update(overrides)
    return tb.build_erc20_batch(**kwargs)


def rechecksum(batch: dict) -> dict:
    """A tampered file whose checksum was recomputed, so only the tampering itself shows."""
    batch["meta"]["checksum"] = tb.compute_checksum(batch)
    return batch


def render(batch: dict) -> bytes:
    return tb.render_batch_json(batch)


# --------------------------------------------------------------------------------------------
# Shared vectors
# --------------------------------------------------------------------------------------------


def test_vector_table_matches_readme_and_folder():
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\S+\.json) \|[^|]*\| (valid|invalid)", readme, flags=re.M))
    assert {name: (v == "valid") for name, v in rows.items()} == VECTOR_TABLE
    assert {p.name for p in VECTORS.glob("*.json")} == set(VECTOR_TABLE)


@pytest.mark.parametrize(("name", "valid"), sorted(VECTOR_TABLE.items()))
def test_vector_checksum(name: str, valid: bool):
    raw = (VECTORS / name).read_bytes()
    assert tb.verify_checksum(json.loads(raw)) is valid
    problems = tb.verify_batch_file(raw)
    if valid:
        assert problems == []
    else:
        assert any(p.startswith("meta.checksum: mismatch") for p in problems), problems


@pytest.mark.parametrize("stem", ["synthetic_arb_erc20_transfers", "synthetic_arbsep_rawdata"])
def test_serializer_matches_synthetic_prehash_strings_byte_for_byte(stem: str):
    batch = load(f"{stem}.json")
    expected = (VECTORS / f"{stem}.serialized.txt").read_bytes()
    payload = copy.deepcopy(batch)
    del payload["meta"]["checksum"]
    payload["meta"]["name"] = None
    assert tb.serialize(payload).encode("utf-8") == expected
    assert (
        tb.compute_checksum(batch)
        == "0x" + pycryptodome_keccak.new(digest_bits=256, data=expected).hexdigest()
    )
    assert tb.compute_checksum(batch) == batch["meta"]["checksum"]


def test_data_key_removed_vector_is_reported_per_transaction():
    problems = tb.verify_batch_file((VECTORS / "derived_data_key_removed_invalid.json").read_bytes())
    assert "transactions[0].data: missing" in problems
    assert "transactions[2].data: missing" in problems


def test_tampered_vector_is_caught_by_expected_transfers():
    original = tb.transactions_from_batch(load("balancer_arb_bip322_erc20_transfers.json"))
    expected = [BatchTransfer("0xc38c5f97B34E175FFd35407fc91a937300E33860", 100000 * 10**18)]
    expected.append(BatchTransfer("0x8D803f7f7e26E586ee90E5A872cf7830e21f7727", 2_000_000 * 10**18))
    expected.append(BatchTransfer("0x8D803f7f7e26E586ee90E5A872cf7830e21f7727", 472_279 * 10**18))
    assert len(original) == 3
    assert (
        tb.verify_batch_file(
            (VECTORS / "balancer_arb_bip322_erc20_transfers.json").read_bytes(), expected=expected
        )
        == []
    )
    problems = tb.verify_batch_file(
        (VECTORS / "derived_tampered_amount_invalid.json").read_bytes(), expected=expected
    )
    assert (
        f"transactions[0].contractInputsValues.value: amount {10**24} wei, expected {10**23}" in problems
    ), problems


# --------------------------------------------------------------------------------------------
# Serializer
# --------------------------------------------------------------------------------------------


def test_serialize_empty_object_and_lists():
    assert tb.serialize({}) == "{[]}"
    assert tb.serialize([]) == "[]"
    assert tb.serialize([[1, [2, []]], {}, [None, True, False]]) == "[[1,[2,[]]],{[]},[null,true,false]]"
    assert tb.serialize({"a": {"b": [{}]}}) == '{["a"]{["b"][{[]}],},}'


def test_serialize_null_differs_from_missing_key():
    assert tb.serialize({"a": 1, "data": None}) == '{["a","data"]1,null,}'
    assert tb.serialize({"a": 1}) == '{["a"]1,}'
    batch = golden_batch()
    without = copy.deepcopy(batch)
    del without["transactions"][0]["data"]
    assert tb.compute_checksum(without) != tb.compute_checksum(batch)


def test_serialize_non_ascii_and_escapes_like_json_stringify():
    # Non-ASCII, "/" and U+2028/2029 stay raw; only " \ and control characters are escaped.
    s = "é ü € 😀 / \u2028\u2029 \x7f"
    assert tb.serialize(s) == '"' + s + '"'
    assert tb.serialize('q"b\\') == '"q\\"b\\\\"'
    assert tb.serialize("\b\t\n\f\r") == '"\\b\\t\\n\\f\\r"'
    assert tb.serialize("\x00\x01\x1f") == '"\\u0000\\u0001\\u001f"'
    # ES2019 well-formed JSON.stringify: lone surrogates escaped (lowercase), pairs kept.
    assert tb.serialize("\ud800x\udfff") == '"\\ud800x\\udfff"'
    assert tb.serialize("\ud83d\ude00") == '"😀"'
    assert tb.serialize({"ключ": "значение"}) == '{["ключ"]"значение",}'


def test_serialize_key_order_is_javascript_utf16_sort():
    assert tb.serialize({"b": 1, "a": 2, "B": 3, "_": 4}) == '{["B","_","a","b"]3,4,2,1,}'
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, so JS sorts it *before* U+FF01,
    # although its code point is larger (Python's sorted() would put it last).
    assert tb.serialize({"\uff01": 1, "😀": 2}) == '{["😀","\uff01"]2,1,}'
    assert tb.serialize({"é": 1, "z": 2, "Z": 3}) == '{["Z","z","é"]3,2,1,}'


def test_serialize_numbers_like_javascript():
    assert tb.serialize(0) == "0"
    assert tb.serialize(-5) == "-5"
    assert tb.serialize(2**53 - 1) == "9007199254740991"
    # JSON.parse rounds to a double first: JSON.parse("9007199254740993") === 9007199254740992
    assert tb.serialize(2**53 + 1) == "9007199254740992"
    assert tb.serialize(2**60) == "1152921504606847000"
    assert tb.serialize(10**21) == "1e+21"
    assert tb.serialize(1.5) == "1.5"
    assert tb.serialize(1e21) == "1e+21"
    assert tb.serialize(1e-7) == "1e-7"
    assert tb.serialize(0.000001) == "0.000001"
    assert tb.serialize(123e-20) == "1.23e-18"
    assert tb.serialize(-0.0) == "0"
    assert tb.serialize(float("nan")) == "null"
    assert tb.serialize(True) == "true"


def test_serialize_rejects_non_json():
    with pytest.raises(TypeError):
        tb.serialize({1: "x"})
    with pytest.raises(TypeError):
        tb.serialize(b"x")


@given(st.text().filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)))
def test_serialize_string_equals_json_dumps_without_ascii_escaping(s: str):
    assert tb.serialize(s) == json.dumps(s, ensure_ascii=False)


@given(st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0x7F)), st.integers(0, 9), max_size=8))
def test_serialize_ascii_keys_sort_like_python(d: dict):
    keys = sorted(d)
    expected = (
        "{"
        + json.dumps(keys, separators=(",", ":"), ensure_ascii=False)
        + "".join(f"{d[k]}," for k in keys)
        + "}"
    )
    assert tb.serialize(d) == expected


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

# SER(F) of golden_batch(), written out by hand from the spec (not produced by tb.serialize).
_INPUTS_HAND = (
    '{["inputs","name","payable"]'
    '[{["internalType","name","type"]"address","to","address",},'
    '{["internalType","name","type"]"uint256","value","uint256",}],"transfer",false,}'
)
_TX_KEYS_HAND = '["contractInputsValues","contractMethod","data","to","value"]'
GOLDEN_SER = (
    '{["chainId","createdAt","meta","transactions","version"]'
    '"42161",1743465600000,'
    '{["createdFromOwnerAddress","createdFromSafeAddress","description","name","txBuilderVersion"]'
    '"","0x1111111111111111111111111111111111111111","2 transfers, 251.5 COR",null,"1.18.3",},'
    "["
    "{"
    + _TX_KEYS_HAND
    + '{["to","value"]"0x2222222222222222222222222222222222222222","1500000",},'
    + _INPUTS_HAND
    + ',null,"0xaf88d065e77c8cC2239327C5EDb3A432268e5831","0",},'
    "{"
    + _TX_KEYS_HAND
    + '{["to","value"]"0x3333333333333333333333333333333333333333","250000000",},'
    + _INPUTS_HAND
    + ',null,"0xaf88d065e77c8cC2239327C5EDb3A432268e5831","0",}'
    '],"1.0",}'
)
GOLDEN_CHECKSUM = "0xe9e2b396a129fffd2700d6d2aa371bc465caa0358f51865d75619969ffa3ca62"

_TX_HAND = """\
    {{
      "to": "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
      "value": "0",
      "data": null,
      "contractMethod": {{
        "inputs": [
          {{
            "internalType": "address",
            "name": "to",
            "type": "address"
          }},
          {{
            "internalType": "uint256",
            "name": "value",
            "type": "uint256"
          }}
        ],
        "name": "transfer",
        "payable": false
      }},
      "contractInputsValues": {{
        "to": "{to}",
        "value": "{value}"
      }}
    }}"""
GOLDEN_FILE = (
    """\
{
  "version": "1.0",
  "chainId": "42161",
  "createdAt": 1743465600000,
  "meta": {
    "name": "COR payout 2025-03 (1/1)",
    "description": "2 transfers, 251.5 COR",
    "txBuilderVersion": "1.18.3",
    "createdFromSafeAddress": "0x1111111111111111111111111111111111111111",
    "createdFromOwnerAddress": "",
    "checksum": "0xe9e2b396a129fffd2700d6d2aa371bc465caa0358f51865d75619969ffa3ca62"
  },
  "transactions": [
"""
    + _TX_HAND.format(to=R2, value=1500000)
    + ",\n"
    + _TX_HAND.format(to=R3, value=250000000)
    + "\n  ]\n}\n"
)


def test_golden_two_transfer_batch_exact_bytes():
    batch = golden_batch()
    payload = copy.deepcopy(batch)
    del payload["meta"]["checksum"]
    payload["meta"]["name"] = None
    assert tb.serialize(payload) == GOLDEN_SER
    independent = "0x" + pycryptodome_keccak.new(digest_bits=256, data=GOLDEN_SER.encode()).hexdigest()
    assert independent == GOLDEN_CHECKSUM
    assert batch["meta"]["checksum"] == GOLDEN_CHECKSUM
    assert tb.render_batch_json(batch) == GOLDEN_FILE.encode("utf-8")
    assert tb.verify_batch_file(GOLDEN_FILE.encode(), expected=TWO, token=TOKEN) == []


def test_erc20_batch_shape_and_key_order():
    batch = golden_batch()
    assert list(batch) == ["version", "chainId", "createdAt", "meta", "transactions"]
    assert list(batch["meta"]) == [
        "name",
        "description",
        "txBuilderVersion",
        "createdFromSafeAddress",
        "createdFromOwnerAddress",
        "checksum",
    ]
    tx = batch["transactions"][0]
    assert list(tx) == ["to", "value", "data", "contractMethod", "contractInputsValues"]
    assert list(tx["contractMethod"]) == ["inputs", "name", "payable"]
    assert batch["chainId"] == "42161" and isinstance(batch["chainId"], str)
    assert tx["data"] is None and tx["value"] == "0"
    assert batch["meta"]["createdFromOwnerAddress"] == ""
    assert [i["name"] for i in tx["contractMethod"]["inputs"]] == list(tx["contractInputsValues"])


def test_built_batch_verifies_and_round_trips():
    batch = golden_batch()
    assert tb.verify_checksum(batch)
    raw = render(batch)
    assert json.loads(raw) == batch
    assert tb.verify_batch_file(raw) == []
    assert tb.verify_batch_file(raw, expected=TWO, token=TOKEN) == []


def test_renaming_keeps_checksum():
    batch = golden_batch()
    renamed = golden_batch(name="anything else – ünïcode")
    assert renamed["meta"]["checksum"] == batch["meta"]["checksum"]
    batch["meta"]["name"] = "edited by hand"
    assert tb.verify_checksum(batch)


def test_tampering_one_amount_breaks_checksum():
    batch = golden_batch()
    batch["transactions"][1]["contractInputsValues"]["value"] = "250000001"
    assert not tb.verify_checksum(batch)
    problems = tb.verify_batch_file(render(batch), expected=TWO, token=TOKEN)
    assert any(
        p.startswith(f"meta.checksum: mismatch, expected {tb.compute_checksum(batch)} (computed), found")
        for p in problems
    ), problems
    assert "transactions[1].contractInputsValues.value: amount 250000001 wei, expected 250000000" in problems


def test_description_and_metadata_change_checksum_but_name_does_not():
    base = golden_batch()["meta"]["checksum"]
    assert golden_batch(description="other")["meta"]["checksum"] != base
    assert golden_batch(created_at_ms=1743465600001)["meta"]["checksum"] != base
    assert golden_batch(chain_id=1)["meta"]["checksum"] != base


def test_non_ascii_description_is_written_raw_and_verifies():
    batch = golden_batch(description="Période 2025-03 — 2 transferts, 251,5 COR ✓")
    raw = render(batch)
    assert "Période 2025-03 — 2 transferts".encode() in raw
    assert tb.verify_batch_file(raw, expected=TWO, token=TOKEN) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("safe", ALICE.lower()),
        ("token", TOKEN.lower()),
        ("token", TOKEN.upper().replace("0X", "0x")),
        ("token", "0xaf88d065e77c8cC2239327C5EDb3A432268e583"),
        ("token", " " + TOKEN),
    ],
)
def test_build_rejects_non_eip55_addresses(field: str, value: str):
    with pytest.raises(ValueError, match="EIP-55"):
        golden_batch(**{field: value})


def test_build_rejects_lowercase_recipient():
    with pytest.raises(ValueError, match=r"transfers\[1\]\.recipient .* EIP-55"):
        golden_batch(transfers=[TWO[0], BatchTransfer(ALICE.lower(), 1)])


@pytest.mark.parametrize("amount", [0, -1, 2**256, True, 1.0, "5"])
def test_build_rejects_bad_amounts(amount: object):
    with pytest.raises(ValueError, match=r"transfers\[0\]\.amount_wei"):
        golden_batch(transfers=[BatchTransfer(ALICE, amount)])  # type: ignore[arg-type]


def test_build_rejects_empty_and_bad_envelope():
    with pytest.raises(ValueError, match="at least one"):
        golden_batch(transfers=[])
    with pytest.raises(ValueError, match="chain_id"):
        golden_batch(chain_id="42161")
    with pytest.raises(ValueError, match="created_at_ms"):
        golden_batch(created_at_ms=2**53)


def test_native_batch_matches_builder_shape():
    batch = tb.build_native_batch(
        chain_id=421614,
        safe=SAFE,
        transfers=[BatchTransfer(ALICE, 10**16)],
        name="native",
        description="",
        created_at_ms=1718000000000,
    )
    vector_native_tx = load("synthetic_arb_erc20_transfers.json")["transactions"][2]
    tx = batch["transactions"][0]
    assert list(tx) == list(vector_native_tx)
    assert tx == {
        "to": ALICE,
        "value": "10000000000000000",
        "data": None,
        "contractMethod": None,
        "contractInputsValues": None,
    }
    assert tb.verify_checksum(batch)
    assert tb.transactions_from_batch(batch) == [(ALICE, 10**16, b"")]
    assert tb.verify_batch_file(render(batch), expected=[BatchTransfer(ALICE, 10**16)]) == []
    assert tb.verify_batch_file(render(batch), expected=[BatchTransfer(ALICE, 10**15)]) == [
        "transactions[0].value: amount 10000000000000000 wei, expected 1000000000000000"
    ]


# --------------------------------------------------------------------------------------------
# Calldata rebuilt from the file alone
# --------------------------------------------------------------------------------------------


def test_transfer_calldata_matches_web3_contract_encoding():
    batch = golden_batch()
    erc20 = Web3().eth.contract(abi=ERC20_ABI)
    rebuilt = tb.transactions_from_batch(batch)
    assert len(rebuilt) == 2
    for (to, value, calldata), t in zip(rebuilt, TWO, strict=True):
        assert to == TOKEN and value == 0
        assert calldata == bytes.fromhex("a9059cbb") + abi_encode(
            ["address", "uint256"], [t.recipient, t.amount_wei]
        )
        assert "0x" + calldata.hex() == erc20.encode_abi("transfer", args=[t.recipient, t.amount_wei])


def test_vectors_rebuild_like_the_builder():
    # Input names differ per ABI ("recipient"/"amount", "dst"/"wad"): values are looked up by name.
    bip322 = tb.transactions_from_batch(load("balancer_arb_bip322_erc20_transfers.json"))
    erc20 = Web3().eth.contract(abi=ERC20_ABI)
    assert "0x" + bip322[2][2].hex() == erc20.encode_abi(
        "transfer", args=["0x8D803f7f7e26E586ee90E5A872cf7830e21f7727", 472279 * 10**18]
    )
    native = tb.transactions_from_batch(load("balancer_eth_native_value_bip433.json"))
    assert native[2] == ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 20 * 10**18, bytes.fromhex("d0e30db0"))
    assert native[3][2][:4] == bytes.fromhex("a9059cbb")
    raw = load("synthetic_arbsep_rawdata.json")
    assert tb.transactions_from_batch(raw) == [(TOKEN, 0, bytes.fromhex(raw["transactions"][0]["data"][2:]))]
    bip885 = tb.transactions_from_batch(load("balancer_arb_v1182_bip885.json"))
    selector_arg = bip885[1][2][4 + 32 : 4 + 64]
    assert selector_arg == bytes.fromhex("8d80ff0a") + bytes(28)  # bytes4 input, left-aligned
    synthetic = tb.transactions_from_batch(load("synthetic_arb_erc20_transfers.json"))
    assert synthetic[2] == ("0x4444444444444444444444444444444444444444", 10**16, b"")


def test_input_name_mismatch_gives_empty_calldata_and_is_flagged():
    batch = golden_batch()
    values = batch["transactions"][1]["contractInputsValues"]
    batch["transactions"][1]["contractInputsValues"] = {"recipient": values["to"], "value": values["value"]}
    rechecksum(batch)  # the checksum is fine: the builder would import this without a warning
    txs, problems = tb.rebuild_transactions(batch)
    assert txs[1] == (TOKEN, 0, b"")
    assert txs[0][2][:4] == tb.ERC20_TRANSFER_SELECTOR
    assert problems == [
        "transactions[1].contractInputsValues.to: missing (input 'to' of transfer); "
        "the builder silently sends calldata 0x"
    ]
    assert tb.transactions_from_batch(batch)[1] == (TOKEN, 0, b"")
    file_problems = tb.verify_batch_file(render(batch), expected=TWO, token=TOKEN)
    assert (
        "transactions[1].contractInputsValues: keys ['recipient', 'value'] != contractMethod.inputs names "
        "['to', 'value']" in file_problems
    )
    assert problems[0] in file_problems
    assert "transactions[1]: calldata is not transfer(address,uint256) (0 bytes)" in file_problems


# --------------------------------------------------------------------------------------------
# verify_batch_file messages
# --------------------------------------------------------------------------------------------


def test_verify_unparseable_and_non_object():
    assert tb.verify_batch_file(b"{not json")[0].startswith("file: unparseable JSON")
    assert tb.verify_batch_file(b"[]") == ["file: top level is list, expected an object"]
    assert tb.verify_batch_file(b"\xff\xfe")[0].startswith("file: not UTF-8")
    assert tb.verify_batch_file(b'{"createdAt": NaN}')[0].startswith("file: unparseable JSON")
    bom = tb.verify_batch_file(b"\xef\xbb\xbf" + render(golden_batch()))
    assert bom == ["file: starts with a UTF-8 byte order mark (not written by this pipeline)"]


def test_verify_missing_keys():
    batch = golden_batch()
    del batch["version"]
    del batch["meta"]["createdFromOwnerAddress"]
    del batch["transactions"][1]["contractInputsValues"]
    problems = tb.verify_batch_file(render(rechecksum(batch)))
    assert "version: missing" in problems
    assert "meta.createdFromOwnerAddress: missing" in problems
    assert "transactions[1].contractInputsValues: missing" in problems
    del batch["meta"]["checksum"]
    assert "meta.checksum: missing" in tb.verify_batch_file(render(batch))


def test_verify_non_object_transaction_keeps_later_indices():
    batch = golden_batch()
    batch["transactions"].insert(0, "junk")
    problems = tb.verify_batch_file(render(rechecksum(batch)), expected=[TWO[0], *TWO], token=TOKEN)
    assert "transactions[0]: not an object" in problems
    assert not any(p.startswith(("transactions[1]", "transactions[2]")) for p in problems), problems


def test_verify_chain_id_must_be_a_string():
    batch = golden_batch()
    batch["chainId"] = 42161
    assert tb.verify_batch_file(render(rechecksum(batch))) == ["chainId: 42161 must be a decimal string"]


def test_verify_non_eip55_addresses_name_index_and_field():
    batch = golden_batch()
    batch["transactions"][1]["to"] = TOKEN.lower()
    batch["transactions"][0]["contractInputsValues"]["to"] = ALICE.lower()
    batch["meta"]["createdFromSafeAddress"] = ALICE.lower()
    problems = tb.verify_batch_file(render(rechecksum(batch)))
    assert problems == [
        f"meta.createdFromSafeAddress: {ALICE.lower()!r} is not an EIP-55 address",
        f"transactions[0].contractInputsValues.to: {ALICE.lower()!r} is not an EIP-55 address",
        f"transactions[1].to: {TOKEN.lower()!r} is not an EIP-55 address",
    ]


def test_verify_expected_count_order_and_token():
    raw = render(golden_batch())
    assert tb.verify_batch_file(raw, expected=TWO[:1], token=TOKEN) == [
        "transactions: 2 in the file, expected 1"
    ]
    assert tb.verify_batch_file(raw, expected=[TWO[1], TWO[0]], token=TOKEN) == [
        f"transactions[0].contractInputsValues.to: recipient {R2}, expected {R3}",
        "transactions[0].contractInputsValues.value: amount 1500000 wei, expected 250000000",
        f"transactions[1].contractInputsValues.to: recipient {R3}, expected {R2}",
        "transactions[1].contractInputsValues.value: amount 250000000 wei, expected 1500000",
    ]
    other_token = "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"
    problems = tb.verify_batch_file(raw, expected=TWO, token=other_token)
    assert problems == [
        f"transactions[0].to: {TOKEN!r}, expected the token {other_token}",
        f"transactions[1].to: {TOKEN!r}, expected the token {other_token}",
    ]


def test_verify_native_value_on_erc20_transfer_is_flagged():
    batch = golden_batch()
    batch["transactions"][0]["value"] = "1"
    problems = tb.verify_batch_file(render(rechecksum(batch)), expected=TWO, token=TOKEN)
    assert problems == ["transactions[0].value: 1 wei of native currency sent with an ERC-20 transfer"]


# --------------------------------------------------------------------------------------------
# CSV Airdrop
# --------------------------------------------------------------------------------------------


def test_airdrop_csv_erc20_exact_bytes():
    transfers = [
        BatchTransfer(R2, 1_500_000_000_000_000_000),
        BatchTransfer(R3, 10**18),
        BatchTransfer(ALICE, 1),
    ]
    assert tb.render_airdrop_csv(token=TOKEN, transfers=transfers, decimals=18) == (
        b"token_type,token_address,receiver,amount,id\n"
        b"erc20,0xaf88d065e77c8cC2239327C5EDb3A432268e5831,0x2222222222222222222222222222222222222222,1.5,\n"
        b"erc20,0xaf88d065e77c8cC2239327C5EDb3A432268e5831,0x3333333333333333333333333333333333333333,1,\n"
        b"erc20,0xaf88d065e77c8cC2239327C5EDb3A432268e5831,0x5B38Da6a701c568545dCfcB03FcB875f56beddC4,"
        b"0.000000000000000001,\n"
    )


def test_airdrop_csv_native_exact_bytes():
    assert tb.render_airdrop_csv(token=None, transfers=[BatchTransfer(ALICE, 250_000)], decimals=6) == (
        b"token_type,token_address,receiver,amount,id\n"
        b"native,,0x5B38Da6a701c568545dCfcB03FcB875f56beddC4,0.25,\n"
    )


def test_airdrop_csv_amounts_are_exact_for_huge_values():
    huge = 2**200 + 1  # 61 digits: Decimal.scaleb would round this at the default precision of 28
    csv = tb.render_airdrop_csv(token=TOKEN, transfers=[BatchTransfer(ALICE, huge)], decimals=18).decode()
    amount = csv.splitlines()[1].split(",")[3]
    digits = str(huge)
    assert amount == digits[:-18] + "." + digits[-18:]
    assert "e" not in amount.lower()
    assert tb.render_airdrop_csv(token=None, transfers=[BatchTransfer(ALICE, 120)], decimals=0).endswith(
        b",120,\n"
    )
    assert tb.render_airdrop_csv(token=None, transfers=[BatchTransfer(ALICE, 120)], decimals=3).endswith(
        b",0.12,\n"
    )


def test_airdrop_csv_rejects_bad_input():
    with pytest.raises(ValueError, match="EIP-55"):
        tb.render_airdrop_csv(token=TOKEN.lower(), transfers=TWO, decimals=18)
    with pytest.raises(ValueError, match="EIP-55"):
        tb.render_airdrop_csv(token=TOKEN, transfers=[BatchTransfer(ALICE.lower(), 1)], decimals=18)
    with pytest.raises(ValueError, match="decimals"):
        tb.render_airdrop_csv(token=TOKEN, transfers=TWO, decimals=-1)


# --- fast paths pinned to the reference encoders ------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**300), max_value=2**300) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_json_values)
def test_render_batch_json_is_byte_identical_to_json_dumps_indent_2(obj: object) -> None:
    assert tb.render_batch_json(obj) == (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("*.json")))
def test_render_batch_json_on_every_shared_vector(name: str) -> None:
    obj = json.loads((VECTORS / name).read_bytes())
    assert tb.render_batch_json(obj) == (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def test_render_batch_json_falls_back_for_other_types() -> None:
    for obj in ({"f": 1.5}, {1: "int key"}, [float("nan")], {"t": (1, 2)}):
        assert tb.render_batch_json(obj) == (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["address", "uint256"]),
            st.integers(min_value=0, max_value=2**256 - 1),
            st.binary(min_size=20, max_size=20),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_static_words_equal_eth_abi(items: list[tuple[str, int, bytes]]) -> None:
    types = [t for t, _, _ in items]
    args = [("0x" + raw.hex()) if t == "address" else n for t, n, raw in items]
    assert tb._static_words(types, args) == abi_encode(types, args)


def test_static_words_leave_everything_else_to_eth_abi() -> None:
    assert tb._static_words(["uint256"], [-1]) is None
    assert tb._static_words(["uint256"], [2**256]) is None
    assert tb._static_words(["uint256"], [True]) is None
    assert tb._static_words(["uint128"], [1]) is None
    assert tb._static_words(["address"], ["0x12"]) is None
    assert tb._static_words(["string"], ["x"]) is None
