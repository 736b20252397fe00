"""`txbuilder._parse_input` dispatches on a cached kind per ABI type string (`_abi_kind`); pinned
here to the regex chain it replaced (`_reference_parse_input`, the previous code): same value or
same error for every type string and value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import txbuilder as tb

pytestmark = pytest.mark.unit


def _reference_parse_input(abi_type: str, value: Any) -> Any:
    m = tb._ARRAY.fullmatch(abi_type)
    if m:
        items = json.loads(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"{abi_type} value must be a JSON array")
        if m.group(2) and len(items) != int(m.group(2)):
            raise ValueError(f"{abi_type} value must have {m.group(2)} elements")
        return [_reference_parse_input(m.group(1), item) for item in items]
    if abi_type.startswith("tuple") or abi_type.startswith("("):
        raise ValueError(f"unsupported ABI type {abi_type}")
    if abi_type == "bool":
        if isinstance(value, bool):
            return value
        return str(value).lower() == "true"
    if tb._INT_TYPE.fullmatch(abi_type):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("empty integer")
        text = value.strip()
        return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text, 10)
    if abi_type == "address":
        if not tb._is_abi_address(value):
            raise ValueError(f"invalid address {value!r}")
        return value
    if abi_type == "bytes" or tb._BYTES_N.fullmatch(abi_type):
        if not isinstance(value, str) or tb._HEXDATA.fullmatch(value) is None:
            raise ValueError(f"{abi_type} value must be 0x-prefixed hex")
        return bytes.fromhex(value[2:])
    if abi_type == "string":
        return value if isinstance(value, str) else json.dumps(value)
    raise ValueError(f"unsupported ABI type {abi_type}")


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:
        return type(exc).__name__, str(exc)


_BASE_TYPES = [
    "address",
    "uint256",
    "uint8",
    "int",
    "uint",
    "int128",
    "bool",
    "bytes",
    "bytes32",
    "bytes1",
    "string",
    "tuple",
    "(uint256,address)",
    "tuple(uint256)",
    "function",
    "fixed128x18",
    "Uint256",
    "address ",
    "",
]
_TYPES = st.sampled_from(_BASE_TYPES) | st.builds(
    lambda t, n: f"{t}[{n}]", st.sampled_from(_BASE_TYPES), st.sampled_from(["", "2", "0", "10"])
)
_VALUES = (
    st.sampled_from(
        [
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "0x52908400098527886e0f7030069857d2e4169ee7",
            "0x52908400098527886E0F7030069857D2E4169Ee7",
            "0x" + "ab" * 20,
            "0x" + "AB" * 20,
            "0x",
            "0x00ff",
            "0xzz",
            " 12 ",
            "0x1f",
            "-0x1f",
            "-5",
            "",
            "  ",
            "true",
            "TRUE",
            "false",
            "[1, 2]",
            '["0x00", "0x01"]',
            "[true, false]",
            "not json",
            "1e3",
        ]
    )
    | st.integers(min_value=-(2**260), max_value=2**260).map(str)
    | st.integers(min_value=-(2**260), max_value=2**260)
    | st.booleans()
    | st.none()
    | st.lists(st.integers(0, 3) | st.sampled_from(["0x01", "1", "true"]), max_size=3)
    | st.text(max_size=6)
)


@settings(max_examples=1500, deadline=None)
@given(_TYPES, _VALUES)
def test_parse_input_equals_the_regex_chain(abi_type: str, value: object) -> None:
    assert _outcome(tb._parse_input, abi_type, value) == _outcome(_reference_parse_input, abi_type, value)


@pytest.mark.parametrize("abi_type", [*_BASE_TYPES, "uint256[]", "address[2]", "bytes32[][]", "tuple[]"])
def test_abi_kind_is_the_first_branch_that_applies(abi_type: str) -> None:
    kind = tb._abi_kind(abi_type)
    if tb._ARRAY.fullmatch(abi_type):
        assert kind == "array"
    elif abi_type.startswith(("tuple", "(")):
        assert kind == "tuple"
    elif abi_type == "bool":
        assert kind == "bool"
    elif tb._INT_TYPE.fullmatch(abi_type):
        assert kind == "int"
    elif abi_type == "address":
        assert kind == "address"
    elif abi_type == "bytes" or tb._BYTES_N.fullmatch(abi_type):
        assert kind == "bytes"
    elif abi_type == "string":
        assert kind == "string"
    else:
        assert kind == "unsupported"
