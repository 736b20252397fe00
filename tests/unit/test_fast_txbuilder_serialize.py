"""The fast pre-hash serializer (`txbuilder._serialize_fast`, used by `compute_checksum`) is
pinned to the reference `txbuilder.serialize`: same string for every JSON-like value, the same
TypeError for everything else."""

from __future__ import annotations

import copy
import enum
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import txbuilder as tb
from payouts.txbuilder import BatchTransfer

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "txbuilder"


def outcome(fn: Any, value: object) -> tuple[str, str]:
    """("ok", string) or (exception type name, message): what a serializer does with `value`."""
    try:
        return "ok", fn(value)
    except Exception as exc:  # compared, never swallowed: both sides must do the same
        return type(exc).__name__, str(exc)


def assert_same(value: object) -> None:
    assert outcome(tb._serialize_fast, value) == outcome(tb.serialize, value)


# every code point, surrogates included (a Python str may hold a lone or paired surrogate), with
# the characters the escaping rules are about over-represented
_ESCAPED = ['"', "\\", "/", "\b", "\t", "\n", "\f", "\r", "\x00", "\x1f", "\x7f", "\u2028", "\u2029"]
_UNICODE = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d\ude00", "é", "ключ", "😀", "\ufeff", "\uffff"]
_SPECIAL = st.sampled_from([*_ESCAPED, *_UNICODE])
_CHARS = st.characters(codec=None, exclude_categories=()) | st.characters(max_codepoint=0x7F)
_TEXT = st.lists(st.text(_CHARS, max_size=6) | _SPECIAL, max_size=5).map("".join)

_INTS = (
    st.integers(min_value=-(2**64), max_value=2**64)
    | st.integers(min_value=2**53 - 3, max_value=2**53 + 3)
    | st.integers(min_value=-(2**53) - 3, max_value=-(2**53) + 3)
    | st.integers(min_value=-(2**1100), max_value=2**1100)  # beyond a double: "null"
    | st.sampled_from([0, -1, 1, 2**1024 - 1, 2**1024, -(2**1024)])
)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e21, 1e-7, 1.5e-7, 123456789012345680000.0, 5e-324, 1.7976931348623157e308]
)
_SCALARS = st.none() | st.booleans() | _INTS | _FLOATS | _TEXT

_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXT, inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=600, deadline=None)
@given(_JSON)
def test_fast_equals_reference_on_random_json_like_values(value: object) -> None:
    assert_same(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_fast_equals_reference_on_random_objects(value: dict) -> None:
    assert_same(value)
    assert_same({"meta": value, "transactions": [value, [value]]})


class _Str(str):
    pass


class _Int(int):
    def __str__(self) -> str:  # the reference calls str(): a subclass may change it
        return "custom"


class _Color(enum.IntEnum):
    RED = 1


class _Name(enum.StrEnum):
    A = "a"


class _List(list):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        (),
        [[]],
        {"a": {}},
        {"a": []},
        [{}, [], ()],
        _Str("x"),
        {"k": _Str('q"')},
        {_Str("k"): 1},
        _Int(5),
        [_Int(2**60)],
        _Color.RED,
        {"c": _Color.RED},
        _Name.A,
        {_Name.A: "v", "b": 2},
        OrderedDict([("b", 1), ("a", [True, None])]),
        _List([1, "x", {"y": False}]),
        {"nested": OrderedDict(z=_List([0.5]))},
        # not JSON: the same TypeError from both
        {1: "int key"},
        {"a": {None: 1}},
        [1, {2: 3}],
        object(),
        {"s": {1, 2}},
        [b"bytes"],
        {"d": 1 + 2j},
    ],
    ids=repr,
)
def test_fast_equals_reference_on_edge_and_non_json_values(value: object) -> None:
    assert_same(value)


def test_fast_raises_like_reference_for_non_json() -> None:
    with pytest.raises(TypeError, match="object key 1 is not a string"):
        tb._serialize_fast({"a": {1: 2}})
    with pytest.raises(TypeError, match="cannot serialize set as JSON"):
        tb._serialize_fast([{"a": {1}}])


@pytest.mark.parametrize("stem", ["synthetic_arb_erc20_transfers", "synthetic_arbsep_rawdata"])
def test_fast_matches_the_shared_prehash_strings(stem: str) -> None:
    batch = json.loads((VECTORS / f"{stem}.json").read_bytes())
    payload = copy.deepcopy(batch)
    del payload["meta"]["checksum"]
    payload["meta"]["name"] = None
    expected = (VECTORS / f"{stem}.serialized.txt").read_bytes()
    assert tb._serialize_fast(payload).encode("utf-8") == expected


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("*.json")))
def test_compute_checksum_is_keccak_of_the_reference_on_every_vector(name: str) -> None:
    batch = json.loads((VECTORS / name).read_bytes())
    payload = tb._checksum_payload(batch)
    assert tb._serialize_fast(payload) == tb.serialize(payload)
    assert tb.compute_checksum(batch) == "0x" + keccak(tb.serialize(payload).encode("utf-8")).hex()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.integers(min_value=1, max_value=2**256 - 1)),
        min_size=1,
        max_size=20,
    ),
    st.booleans(),
    _TEXT,
)
def test_compute_checksum_of_built_batches_is_keccak_of_the_reference(
    items: list[tuple[bytes, int]], native: bool, description: str
) -> None:
    from payouts.addresses import checksum

    transfers = [BatchTransfer(checksum("0x" + raw.hex()), wei) for raw, wei in items]
    common: dict[str, Any] = {
        "chain_id": 42161,
        "safe": "0x1111111111111111111111111111111111111111",
        "transfers": transfers,
        "name": "COR payout",
        "description": description,
        "created_at_ms": 1743465600000,
    }
    batch = (
        tb.build_native_batch(**common)
        if native
        else tb.build_erc20_batch(token="0xaf88d065e77c8cC2239327C5EDb3A432268e5831", **common)
    )
    payload = tb._checksum_payload(batch)
    assert tb._serialize_fast(payload) == tb.serialize(payload)
    assert batch["meta"]["checksum"] == "0x" + keccak(tb.serialize(payload).encode("utf-8")).hex()
