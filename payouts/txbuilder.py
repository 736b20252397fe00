"""Safe{Wallet} Transaction Builder batch files, their checksum, and the CSV Airdrop file.

Pure module: every function takes values and returns values (no files, network, clock or env).

Format decisions (see ``shared/spec/safe-batches.md``):

* The batch file has the exact key order the builder itself exports; `render_batch_json` keeps
  that order (it never sorts keys), because the order *is* the format signers compare against.
* ``meta.checksum`` is the builder's own checksum: keccak256 over `serialize` of the file with
  ``meta.checksum`` removed and ``meta.name`` set to null. `serialize` mirrors the builder's
  ``serializeJSONObject`` on the value JavaScript's ``JSON.parse`` would have produced, so a file
  we verify is a file the builder verifies on import (and vice versa).
* The builder rebuilds calldata from ``contractMethod`` + ``contractInputsValues`` looked up *by
  input name*; a name mismatch silently becomes calldata ``0x``. `rebuild_transactions` does the
  same and reports it, and `verify_batch_file` checks what would actually be executed.
* Amounts are ``int`` wei everywhere; they are written as decimal strings (the builder's format)
  and, for the CSV Airdrop app, as exact plain decimals in token units (never floats).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring as _encode_str
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak

from payouts.addresses import checksum, eip55_flags, is_checksummed
from payouts.jsonfmt import dumps_indented

__all__ = [
    "DEFAULT_TX_BUILDER_VERSION",
    "ERC20_TRANSFER_SELECTOR",
    "BatchTransfer",
    "build_erc20_batch",
    "build_native_batch",
    "compute_checksum",
    "rebuild_transactions",
    "render_airdrop_csv",
    "render_batch_json",
    "serialize",
    "transactions_from_batch",
    "verify_batch_file",
    "verify_checksum",
]

DEFAULT_TX_BUILDER_VERSION = "1.18.3"
ERC20_TRANSFER_SELECTOR = function_signature_to_4byte_selector("transfer(address,uint256)")

_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")
_HEXDATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)")
_CHECKSUM = re.compile(r"0x[0-9a-f]{64}")
_MAX_UINT256 = 2**256 - 1
_MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript Number.MAX_SAFE_INTEGER

_TOP_KEYS = ("version", "chainId", "createdAt", "meta", "transactions")
_META_KEYS = (
    "name",
    "description",
    "txBuilderVersion",
    "createdFromSafeAddress",
    "createdFromOwnerAddress",
    "checksum",
)
_TX_KEYS = ("to", "value", "data", "contractMethod", "contractInputsValues")
# The builder refuses to encode these method names and yields calldata 0x.
_NON_VALID_CONTRACT_METHODS = ("receive", "fallback")


# --------------------------------------------------------------------------------------------
# The builder's pre-hash serialization (SER) and checksum
# --------------------------------------------------------------------------------------------

_JS_SHORT_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}


# A string with none of the characters `_js_string` escapes or rewrites is written as is.
_JS_PLAIN = re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*')


def _js_string(s: str) -> str:
    """``JSON.stringify`` of a string (ES2019 well-formed): escapes only ``"``, ``\\``, control
    characters below U+0020 (``\\b \\t \\n \\f \\r`` short forms, else ``\\u00xx`` lowercase) and
    lone surrogates; everything else, including ``/``, U+2028/2029 and non-ASCII, is kept as is.

    A Python str may hold a surrogate *pair* as two code points (JS strings are UTF-16); such a
    pair is well-formed in JS and is emitted as the character it encodes.
    """
    if _JS_PLAIN.fullmatch(s) is not None:  # the common case: nothing to escape
        return '"' + s + '"'
    out = ['"']
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        o = ord(ch)
        if ch in _JS_SHORT_ESCAPES:
            out.append(_JS_SHORT_ESCAPES[ch])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDBFF and i + 1 < n and 0xDC00 <= ord(s[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((o - 0xD800) << 10) + (ord(s[i + 1]) - 0xDC00)))
            i += 1
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
        i += 1
    out.append('"')
    return "".join(out)


def _js_number(x: float) -> str:
    """JavaScript ``Number.prototype.toString`` (what ``JSON.stringify`` writes) for a double.

    Python's ``repr`` gives the same shortest round-trip digits as JS; only the layout differs
    (JS writes plain notation for 1e-7 < |x| < 1e21, and exponents as ``e+21`` / ``e-7``).
    """
    if not math.isfinite(x):
        return "null"  # JSON.stringify(NaN / Infinity)
    if x == 0:
        return "0"  # also -0
    sign = "-" if x < 0 else ""
    _, digit_tuple, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exp) + k  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _js_int(i: int) -> str:
    """An integer as the builder sees it: JSON.parse turns it into a double, so integers beyond
    2**53 are rounded first (a Python int of that size would otherwise hash differently)."""
    if -_MAX_SAFE_INTEGER <= i <= _MAX_SAFE_INTEGER:
        return str(i)
    try:
        return _js_number(float(i))
    except OverflowError:
        return "null"  # JSON.parse gives +/-Infinity, JSON.stringify writes null


def _js_sort_key(key: str) -> bytes:
    """JavaScript's default ``Array.prototype.sort``: compare UTF-16 code units.

    Big-endian UTF-16 bytes compare exactly like the code unit sequences (ASCII keys sort as
    Python's ``sorted``; characters above U+FFFF sort by their surrogates, i.e. before U+E000).
    """
    return key.encode("utf-16-be", "surrogatepass")


@functools.lru_cache(maxsize=4096)
def _sorted_keys(keys: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """An object's keys in the builder's order, and their serialized list (a batch has few key sets)."""
    ordered = tuple(sorted(keys, key=_js_sort_key))
    return ordered, "[" + ",".join(_js_string(k) for k in ordered) + "]"


def serialize(obj: Any) -> str:
    """The builder's pre-hash serialization ``SER`` (spec section 2).

    * list:   ``"[" + ",".join(SER(e)) + "]"``
    * dict:   ``"{" + JSON(sorted keys) + "".join(SER(v) + ",") + "}"`` - no ``:``; every value,
      the last too, is followed by ``,``; ``{}`` gives ``{[]}``.
    * other:  ``JSON.stringify``: ``null``, ``true``/``false``, numbers as JS writes them,
      strings escaped as `_js_string` (non-ASCII kept).

    Tuples count as lists. Anything that is not a JSON value raises ``TypeError``.
    """
    if isinstance(obj, str):
        return _js_string(obj)
    if isinstance(obj, list | tuple):
        return "[" + ",".join([serialize(e) for e in obj]) + "]"
    if isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} is not a string")
        keys, head = _sorted_keys(tuple(obj))
        return "{" + head + "".join([serialize(obj[k]) + "," for k in keys]) + "}"
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return _js_int(obj)
    if isinstance(obj, float):
        return _js_number(obj)
    raise TypeError(f"cannot serialize {type(obj).__name__} as JSON")


# --- fast SER ------------------------------------------------------------------------------
#
# `serialize` above is the spec; `_serialize_fast` is what `compute_checksum` runs (over 2x
# faster on real batch files). It walks the same tree in the same order and builds the same
# string, with three differences in *how*, none in *what*:
#
# * one output list for the whole tree (no intermediate string per container), and scalar
#   children written inline (no call per leaf);
# * ASCII strings go through the stdlib's C ``encode_basestring``, which escapes exactly what
#   `_js_string` escapes for ASCII (``"``, ``\\``, U+0000-U+001F with the same short forms and
#   lowercase ``\u00xx``); any non-ASCII string still goes through `_js_string` (surrogates);
# * only exact ``str``/``dict``/``list``/``tuple``/``int``/``float``/``bool``/``None`` are handled
#   here; every other value (subclasses, non-JSON types, a dict with a key that is not an exact
#   ``str``) is handed to `serialize` itself for its subtree - same string, or the same TypeError.
#   SER is compositional (a container's string depends only on its children's strings), so mixing
#   the two per subtree is exact.
#
# Pinned by tests/unit/test_fast_txbuilder_serialize.py (hypothesis, random JSON-like values incl.
# non-ASCII, control characters, surrogates, big ints, floats) and the shared vectors.
# One difference that is not about the string: the fast path uses one Python frame per nesting
# level where `serialize` uses two, so it hits RecursionError only at about twice the depth.


def _ser_scalar(v: Any) -> str:
    """SER of a non-container value (exact types inline; anything else via `serialize`)."""
    t = type(v)
    if t is str:
        return _encode_str(v) if v.isascii() else _js_string(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        return int.__repr__(v) if -_MAX_SAFE_INTEGER <= v <= _MAX_SAFE_INTEGER else _js_int(v)
    if t is float:
        return _js_number(v)
    return serialize(v)  # subclasses, containers of other types, non-JSON values (TypeError)


def _ser_member(v: Any, out: list[str]) -> None:
    """Append SER(`v`) + "," - a container's member (every one is followed by ",")."""
    tv = type(v)
    if tv is str:
        out.append((_encode_str(v) if v.isascii() else _js_string(v)) + ",")
    elif tv is dict or tv is list or tv is tuple:
        _ser_into(v, out)
        out.append(",")
    else:
        out.append(_ser_scalar(v) + ",")


def _ser_into(obj: Any, out: list[str]) -> None:
    """Append SER(`obj`) to `out`, in pieces (see the notes above `_ser_scalar`)."""
    t = type(obj)
    if t is dict:
        for key in obj:
            if type(key) is not str:
                out.append(serialize(obj))  # str subclass keys, or the reference's TypeError
                return
        keys, head = _sorted_keys(tuple(obj))
        out.append("{" + head)
        for key in keys:
            _ser_member(obj[key], out)
        out.append("}")
    elif t is list or t is tuple:
        if not obj:
            out.append("[]")
            return
        out.append("[")
        for v in obj:
            _ser_member(v, out)
        out[-1] = out[-1][:-1] + "]"  # every element ended in ","; the last one's becomes "]"
    else:
        out.append(_ser_scalar(obj))


def _serialize_fast(obj: Any) -> str:
    """Exactly `serialize(obj)` (same string, same TypeError), faster; see the notes above."""
    out: list[str] = []
    _ser_into(obj, out)
    return "".join(out)


def _checksum_payload(batch: dict) -> dict:
    """Copy of the batch with ``meta.checksum`` removed and ``meta.name`` set to null.

    Only the two dicts that change are copied (the batch itself and ``meta``); everything else is
    shared with `batch`, which is never modified (`serialize` only reads).
    """
    if not isinstance(batch, dict) or not isinstance(batch.get("meta"), dict):
        raise ValueError("batch must be an object with a 'meta' object")
    payload = dict(batch)
    payload["meta"] = dict(batch["meta"])
    payload["meta"].pop("checksum", None)
    payload["meta"]["name"] = None
    return payload


def compute_checksum(batch: dict) -> str:
    """``meta.checksum`` as the builder computes it: ``"0x" + keccak256(utf8(SER(F))).hex()``.

    ``F`` is a deep copy of `batch` without ``meta.checksum`` and with ``meta.name = null``, so
    renaming a batch keeps its checksum. The input is not modified.
    """
    return "0x" + keccak(_serialize_fast(_checksum_payload(batch)).encode("utf-8")).hex()


def verify_checksum(batch: dict) -> bool:
    """True when ``meta.checksum`` equals `compute_checksum` (exact, lowercase hex as written)."""
    try:
        return batch["meta"]["checksum"] == compute_checksum(batch)
    except (KeyError, TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Building batches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchTransfer:
    """One payment: EIP-55 `recipient` and `amount_wei` in base units of the paid asset."""

    recipient: str
    amount_wei: int


def _require_eip55(value: object, what: str) -> str:
    if not is_checksummed(value):
        raise ValueError(
            f"{what} {value!r} is not an EIP-55 checksummed address "
            "(the Transaction Builder refuses other spellings; pass eth_utils.to_checksum_address(x))"
        )
    return value  # type: ignore[return-value]


def _require_transfers(transfers: Sequence[BatchTransfer]) -> None:
    if len(transfers) == 0:
        raise ValueError("a batch needs at least one transfer")
    # one vectorized EIP-55 pass for the whole batch (it also fills the memo the later checks of
    # the same payees - CSV Airdrop, calldata, MultiSend - read)
    eip55 = eip55_flags([getattr(t, "recipient", None) for t in transfers])
    for i, t in enumerate(transfers):
        if not isinstance(t, BatchTransfer):
            raise ValueError(f"transfers[{i}] is {type(t).__name__}, expected BatchTransfer")
        if not eip55[i]:
            _require_eip55(t.recipient, f"transfers[{i}].recipient")
        if isinstance(t.amount_wei, bool) or not isinstance(t.amount_wei, int):
            raise ValueError(f"transfers[{i}].amount_wei must be an int, got {type(t.amount_wei).__name__}")
        if not 0 < t.amount_wei <= _MAX_UINT256:
            raise ValueError(f"transfers[{i}].amount_wei must be > 0 and fit uint256, got {t.amount_wei}")


def _batch_envelope(
    *,
    chain_id: int,
    safe: str,
    name: str,
    description: str,
    created_at_ms: int,
    tx_builder_version: str,
    transactions: list[dict],
) -> dict:
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise ValueError(f"chain_id must be a positive int, got {chain_id!r}")
    if isinstance(created_at_ms, bool) or not isinstance(created_at_ms, int):
        raise ValueError(f"created_at_ms must be an int (milliseconds), got {created_at_ms!r}")
    if not 0 <= created_at_ms <= _MAX_SAFE_INTEGER:
        raise ValueError(f"created_at_ms {created_at_ms} is outside 0..2**53-1 (a JS number)")
    for label, text in (
        ("name", name),
        ("description", description),
        ("tx_builder_version", tx_builder_version),
    ):
        if not isinstance(text, str):
            raise ValueError(f"{label} must be a str, got {type(text).__name__}")
    _require_eip55(safe, "safe")
    batch: dict = {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": created_at_ms,
        "meta": {
            "name": name,
            "description": description,
            "txBuilderVersion": tx_builder_version,
            "createdFromSafeAddress": safe,
            "createdFromOwnerAddress": "",
            "checksum": "",
        },
        "transactions": transactions,
    }
    batch["meta"]["checksum"] = compute_checksum(batch)
    return batch


def build_erc20_batch(
    *,
    chain_id: int,
    safe: str,
    token: str,
    transfers: Sequence[BatchTransfer],
    name: str,
    description: str,
    created_at_ms: int,
    tx_builder_version: str = DEFAULT_TX_BUILDER_VERSION,
) -> dict:
    """A builder batch of ERC-20 ``transfer(to, value)`` calls, one per transfer, in order.

    Each transaction has ``data: null`` and the call in ``contractMethod`` /
    ``contractInputsValues`` (input names ``to`` and ``value``, as OpenZeppelin's ABI), so the
    builder shows recipient and amount readably. ``chainId`` and all values are strings,
    ``createdFromOwnerAddress`` is ``""`` and ``meta.checksum`` is filled in.

    Raises ``ValueError`` for a non-EIP-55 address, an amount that is not an int in 1..2**256-1,
    an empty transfer list or a bad chain id / timestamp.
    """
    _require_eip55(token, "token")
    _require_transfers(transfers)
    transactions = [
        {
            "to": token,
            "value": "0",
            "data": None,
            "contractMethod": {
                "inputs": [
                    {"internalType": "address", "name": "to", "type": "address"},
                    {"internalType": "uint256", "name": "value", "type": "uint256"},
                ],
                "name": "transfer",
                "payable": False,
            },
            "contractInputsValues": {"to": t.recipient, "value": str(t.amount_wei)},
        }
        for t in transfers
    ]
    return _batch_envelope(
        chain_id=chain_id,
        safe=safe,
        name=name,
        description=description,
        created_at_ms=created_at_ms,
        tx_builder_version=tx_builder_version,
        transactions=transactions,
    )


def build_native_batch(
    *,
    chain_id: int,
    safe: str,
    transfers: Sequence[BatchTransfer],
    name: str,
    description: str,
    created_at_ms: int,
    tx_builder_version: str = DEFAULT_TX_BUILDER_VERSION,
) -> dict:
    """A builder batch of plain native-currency transfers (for a chain where COR is native).

    Each transaction is ``{"to": recipient, "value": "<wei>", "data": null,
    "contractMethod": null, "contractInputsValues": null}`` - the shape and key order the builder
    exports for a value transfer without calldata. Same validation as `build_erc20_batch`.
    """
    _require_transfers(transfers)
    transactions = [
        {
            "to": t.recipient,
            "value": str(t.amount_wei),
            "data": None,
            "contractMethod": None,
            "contractInputsValues": None,
        }
        for t in transfers
    ]
    return _batch_envelope(
        chain_id=chain_id,
        safe=safe,
        name=name,
        description=description,
        created_at_ms=created_at_ms,
        tx_builder_version=tx_builder_version,
        transactions=transactions,
    )


def render_batch_json(batch: dict) -> bytes:
    """Deterministic file bytes: ``json.dumps(indent=2, ensure_ascii=False)`` + ``"\\n"``, UTF-8.

    Keys stay in the builder's order (never sorted). The checksum covers parsed values, not
    whitespace, so the builder verifies this layout as well as its own.
    """
    return (dumps_indented(batch) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# Rebuilding calldata from the file alone, as the builder does
# --------------------------------------------------------------------------------------------

_INT_TYPE = re.compile(r"(u?)int([0-9]*)")
_BYTES_N = re.compile(r"bytes([0-9]+)")
_ARRAY = re.compile(r"(.+)\[([0-9]*)\]")


def _is_abi_address(value: object) -> bool:
    """What the builder's ABI coder accepts: 0x + 40 hex, all lowercase or valid EIP-55."""
    return (
        isinstance(value, str)
        and _HEX40.fullmatch(value) is not None
        and (value[2:] == value[2:].lower() or checksum(value) == value)
    )


@functools.lru_cache(maxsize=1024)
def _abi_kind(abi_type: str) -> str:
    """Which branch of `_parse_input` an ABI type string takes, tested in `_parse_input`'s order
    (cached: a batch repeats the same few type strings, so the regexes run once per string)."""
    if _ARRAY.fullmatch(abi_type):
        return "array"
    if abi_type.startswith("tuple") or abi_type.startswith("("):
        return "tuple"
    if abi_type == "bool":
        return "bool"
    if _INT_TYPE.fullmatch(abi_type):
        return "int"
    if abi_type == "address":
        return "address"
    if abi_type == "bytes" or _BYTES_N.fullmatch(abi_type):
        return "bytes"
    if abi_type == "string":
        return "string"
    return "unsupported"


def _parse_input(abi_type: str, value: Any) -> Any:
    """Turn one ``contractInputsValues`` entry into an eth_abi value (``ValueError`` if unusable).

    Mirrors the builder's ``parseInputValue``: a string starting with ``[`` is JSON (arrays),
    ``bool`` is ``value.lower() == "true"``, integers accept decimal or 0x-hex, bytes are 0x-hex.
    Tuples are not supported (the payout pipeline never produces them).
    """
    kind = _abi_kind(abi_type)
    if kind == "address":
        if not _is_abi_address(value):
            raise ValueError(f"invalid address {value!r}")
        return value
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError("empty integer")
        text = value.strip()
        return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text, 10)
    if kind == "array":
        m = _ARRAY.fullmatch(abi_type)  # matches: that is what made the kind "array"
        if m is None:  # pragma: no cover - unreachable
            raise ValueError(f"unsupported ABI type {abi_type}")
        items = json.loads(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"{abi_type} value must be a JSON array")
        if m.group(2) and len(items) != int(m.group(2)):
            raise ValueError(f"{abi_type} value must have {m.group(2)} elements")
        return [_parse_input(m.group(1), item) for item in items]
    if kind == "tuple":
        raise ValueError(f"unsupported ABI type {abi_type}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        return str(value).lower() == "true"
    if kind == "bytes":
        if not isinstance(value, str) or _HEXDATA.fullmatch(value) is None:
            raise ValueError(f"{abi_type} value must be 0x-prefixed hex")
        return bytes.fromhex(value[2:])
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value)
    raise ValueError(f"unsupported ABI type {abi_type}")


@functools.lru_cache(maxsize=256)
def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _static_words(types: list[str], args: list[Any]) -> bytes | None:
    """ABI encoding of `address` and `uint256` arguments (head words only, as eth_abi writes them)
    when every value is in range; None for anything else, which eth_abi encodes or refuses."""
    words: list[bytes] = []
    for abi_type, value in zip(types, args, strict=True):
        if abi_type == "address" and isinstance(value, str) and _HEX40.fullmatch(value):
            words.append(bytes(12) + bytes.fromhex(value[2:]))
        elif abi_type == "uint256" and type(value) is int and 0 <= value <= _MAX_UINT256:
            words.append(value.to_bytes(32, "big"))
        else:
            return None
    return b"".join(words)


def _encode_contract_call(tx: dict, where: str, problems: list[str]) -> bytes:
    """Calldata from ``contractMethod`` + ``contractInputsValues`` (builder's encodeToHexData).

    Any failure gives ``b""`` (the builder sends ``0x``: an empty call) plus a problem.
    """
    method = tx.get("contractMethod")
    name = method.get("name") if isinstance(method, dict) else None
    if not isinstance(name, str) or not name or name in _NON_VALID_CONTRACT_METHODS:
        problems.append(
            f"{where}.contractMethod.name: {name!r} cannot be encoded; the builder sends calldata 0x"
        )
        return b""
    inputs = method.get("inputs") or []
    values = tx.get("contractInputsValues")
    if not isinstance(inputs, list):
        problems.append(f"{where}.contractMethod.inputs: not a list; the builder sends calldata 0x")
        return b""
    types: list[str] = []
    args: list[Any] = []
    for j, inp in enumerate(inputs):
        abi_type = inp.get("type") if isinstance(inp, dict) else None
        key = (inp.get("name") or str(j)) if isinstance(inp, dict) else str(j)
        if not isinstance(abi_type, str):
            problems.append(
                f"{where}.contractMethod.inputs[{j}].type: missing; the builder sends calldata 0x"
            )
            return b""
        if not isinstance(values, dict) or key not in values:
            problems.append(
                f"{where}.contractInputsValues.{key}: missing (input '{key}' of {name}); "
                "the builder silently sends calldata 0x"
            )
            return b""
        try:
            args.append(_parse_input(abi_type, values[key]))
        except (ValueError, TypeError) as exc:
            problems.append(f"{where}.contractInputsValues.{key}: {exc}; the builder sends calldata 0x")
            return b""
        types.append(abi_type)
    selector = _selector(f"{name}({','.join(types)})")
    static = _static_words(types, args)
    if static is not None:
        return selector + static
    try:
        return selector + abi_encode(types, args)
    except Exception as exc:  # eth_abi raises several types for out-of-range values
        problems.append(
            f"{where}.contractInputsValues: cannot ABI-encode ({exc}); the builder sends calldata 0x"
        )
        return b""


def rebuild_transactions(batch: dict) -> tuple[list[tuple[str, int, bytes]], list[str]]:
    """``(to, value_wei, calldata)`` per transaction, from the file alone, plus problems found.

    Same precedence as the builder: a non-empty ``data`` string is the calldata; otherwise a
    ``contractMethod`` is ABI-encoded with values looked up *by input name* (an unnamed input by
    its index) in ``contractInputsValues``; otherwise the calldata is empty (native transfer).
    Whatever the builder would turn into an empty call (a missing input name, an unparseable
    value) gives ``b""`` here too, and a problem naming the transaction index and field.
    """
    problems: list[str] = []
    txs = batch.get("transactions") if isinstance(batch, dict) else None
    if not isinstance(txs, list):
        return [], ["transactions: missing or not a list"]
    out: list[tuple[str, int, bytes]] = []
    for i, tx in enumerate(txs):
        where = f"transactions[{i}]"
        if not isinstance(tx, dict):
            problems.append(f"{where}: not an object")
            out.append(("", 0, b""))  # keep indices aligned with the file
            continue
        to = tx.get("to")
        if not isinstance(to, str):
            problems.append(f"{where}.to: missing or not a string")
            to = ""
        raw_value = tx.get("value")
        value = 0
        if isinstance(raw_value, str) and _DECIMAL.fullmatch(raw_value):
            value = int(raw_value)
        else:
            problems.append(f"{where}.value: {raw_value!r} is not a decimal string of wei")
        data = tx.get("data")
        if isinstance(data, str) and data:
            if _HEXDATA.fullmatch(data) is None:
                problems.append(f"{where}.data: not 0x-prefixed hex bytes")
                calldata = b""
            else:
                calldata = bytes.fromhex(data[2:])
        elif tx.get("contractMethod"):
            calldata = _encode_contract_call(tx, where, problems)
        else:
            calldata = b""
        out.append((to, value, calldata))
    return out, problems


def transactions_from_batch(batch: dict) -> list[tuple[str, int, bytes]]:
    """``(to, value_wei, calldata)`` per transaction, exactly as the builder would send them.

    A missing input name yields ``b""`` calldata like the builder; use `rebuild_transactions`
    (or `verify_batch_file`) to also get the list of such problems.
    """
    return rebuild_transactions(batch)[0]


# --------------------------------------------------------------------------------------------
# Verifying a batch file
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_structure(batch: dict, problems: list[str]) -> None:
    for key in _TOP_KEYS:
        if key not in batch:
            problems.append(f"{key}: missing")
    if "version" in batch and batch["version"] != "1.0":
        problems.append(f"version: {batch['version']!r}, expected '1.0'")
    chain_id = batch.get("chainId")
    if "chainId" in batch and not (isinstance(chain_id, str) and _DECIMAL.fullmatch(chain_id)):
        problems.append(f"chainId: {chain_id!r} must be a decimal string")
    created = batch.get("createdAt")
    if "createdAt" in batch and (
        isinstance(created, bool) or not isinstance(created, int) or not 0 <= created <= _MAX_SAFE_INTEGER
    ):
        problems.append(f"createdAt: {created!r} must be an integer number of milliseconds")
    meta = batch.get("meta")
    if "meta" in batch and not isinstance(meta, dict):
        problems.append("meta: not an object")
    elif isinstance(meta, dict):
        for key in _META_KEYS:
            if key not in meta:
                problems.append(f"meta.{key}: missing")
        safe = meta.get("createdFromSafeAddress")
        if "createdFromSafeAddress" in meta and not is_checksummed(safe):
            problems.append(f"meta.createdFromSafeAddress: {safe!r} is not an EIP-55 address")
        owner = meta.get("createdFromOwnerAddress")
        if "createdFromOwnerAddress" in meta and owner != "" and not is_checksummed(owner):
            problems.append(f"meta.createdFromOwnerAddress: {owner!r} is neither '' nor an EIP-55 address")
        found = meta.get("checksum")
        if "checksum" in meta:
            try:
                computed = compute_checksum(batch)
            except (TypeError, ValueError) as exc:
                problems.append(f"meta.checksum: cannot be computed ({exc})")
            else:
                if found != computed:
                    problems.append(
                        f"meta.checksum: mismatch, expected {computed} (computed), found {found!r}"
                    )
            if isinstance(found, str) and _CHECKSUM.fullmatch(found) is None:
                problems.append(f"meta.checksum: {found!r} is not 0x + 64 lowercase hex digits")
    txs = batch.get("transactions")
    if "transactions" in batch and not isinstance(txs, list):
        problems.append("transactions: not a list")
    elif isinstance(txs, list):
        if not txs:
            problems.append("transactions: empty")
        for i, tx in enumerate(txs):
            _check_transaction(i, tx, problems)


def _check_transaction(i: int, tx: object, problems: list[str]) -> None:
    where = f"transactions[{i}]"
    if not isinstance(tx, dict):
        problems.append(f"{where}: not an object")
        return
    for key in _TX_KEYS:
        if key not in tx:
            problems.append(f"{where}.{key}: missing")
    if "to" in tx and not is_checksummed(tx["to"]):
        problems.append(f"{where}.to: {tx['to']!r} is not an EIP-55 address")
    data = tx.get("data")
    if data is not None and not isinstance(data, str):
        problems.append(f"{where}.data: must be null or a 0x hex string")
    method = tx.get("contractMethod")
    values = tx.get("contractInputsValues")
    if method is None:
        if values is not None:
            problems.append(f"{where}.contractInputsValues: present without contractMethod")
        return
    if not isinstance(method, dict):
        problems.append(f"{where}.contractMethod: not an object")
        return
    inputs = method.get("inputs")
    if not isinstance(inputs, list):
        problems.append(f"{where}.contractMethod.inputs: missing or not a list")
        return
    names = [(inp.get("name") or str(j)) if isinstance(inp, dict) else str(j) for j, inp in enumerate(inputs)]
    keys = list(values) if isinstance(values, dict) else []
    if values is not None and not isinstance(values, dict):
        problems.append(f"{where}.contractInputsValues: not an object")
    if sorted(names) != sorted(keys):
        problems.append(
            f"{where}.contractInputsValues: keys {sorted(keys)} != "
            f"contractMethod.inputs names {sorted(names)}"
        )
    for j, inp in enumerate(inputs):
        if not isinstance(inp, dict):
            problems.append(f"{where}.contractMethod.inputs[{j}]: not an object")
            continue
        if inp.get("type") == "address" and isinstance(values, dict) and names[j] in values:
            v = values[names[j]]
            if not is_checksummed(v):
                problems.append(f"{where}.contractInputsValues.{names[j]}: {v!r} is not an EIP-55 address")
    if isinstance(values, dict):
        for key, v in values.items():
            if not isinstance(v, str):
                problems.append(f"{where}.contractInputsValues.{key}: {v!r} must be a string")


def _check_expected(
    batch: dict,
    rebuilt: list[tuple[str, int, bytes]],
    expected: Sequence[BatchTransfer],
    token: str | None,
    problems: list[str],
) -> None:
    txs = batch.get("transactions")
    if not isinstance(txs, list):
        return
    if len(txs) != len(expected):
        problems.append(f"transactions: {len(txs)} in the file, expected {len(expected)}")
    for i, ((to, value, calldata), exp) in enumerate(zip(rebuilt, expected, strict=False)):
        where = f"transactions[{i}]"
        tx = txs[i] if isinstance(txs[i], dict) else {}
        uses_method = not (isinstance(tx.get("data"), str) and tx.get("data"))
        recipient_field = f"{where}.contractInputsValues.to" if uses_method else f"{where}.data"
        amount_field = f"{where}.contractInputsValues.value" if uses_method else f"{where}.data"
        if token is not None or calldata:
            # ERC-20 transfer: judge the calldata the builder will actually send.
            if token is not None and to != token:
                problems.append(f"{where}.to: {to!r}, expected the token {token}")
            if value != 0:
                problems.append(f"{where}.value: {value} wei of native currency sent with an ERC-20 transfer")
            if len(calldata) != 68 or calldata[:4] != ERC20_TRANSFER_SELECTOR:
                problems.append(f"{where}: calldata is not transfer(address,uint256) ({len(calldata)} bytes)")
                continue
            recipient_raw, amount = abi_decode(["address", "uint256"], calldata[4:])
            recipient = checksum(recipient_raw)
        else:
            recipient, amount = to, value
            recipient_field, amount_field = f"{where}.to", f"{where}.value"
        if recipient.lower() != str(exp.recipient).lower() or (
            is_checksummed(exp.recipient) and recipient != exp.recipient
        ):
            problems.append(f"{recipient_field}: recipient {recipient}, expected {exp.recipient}")
        if amount != exp.amount_wei:
            problems.append(f"{amount_field}: amount {amount} wei, expected {exp.amount_wei}")


def verify_batch_file(
    raw: bytes,
    *,
    expected: Sequence[BatchTransfer] | None = None,
    token: str | None = None,
) -> list[str]:
    """Everything wrong with a batch file, as messages naming the field (empty list = good).

    Checks: UTF-8 JSON object; every key of the format present; ``chainId`` a decimal string;
    ``createdAt`` an integer; ``meta.checksum`` equal to the builder's checksum (message gives
    the computed and the found value); addresses EIP-55 (``to``, Safe, address inputs);
    ``contractInputsValues`` keys equal to the ``inputs[].name``; calldata rebuildable.

    With `expected`, the transfers the builder would actually execute (decoded from the rebuilt
    calldata for ERC-20, from ``to``/``value`` for native) must equal `expected` in count, order,
    recipient and amount. With `token`, every transaction must be ``token.transfer(...)`` with
    value 0; without it, a transaction with empty calldata is judged as a native transfer.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"file: not UTF-8 ({exc})"]
    problems: list[str] = []
    if text.startswith("\ufeff"):
        # The browser's text decoding drops a BOM, but render_batch_json never writes one.
        problems.append("file: starts with a UTF-8 byte order mark (not written by this pipeline)")
        text = text[1:]
    try:
        batch = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return [*problems, f"file: unparseable JSON ({exc})"]
    if not isinstance(batch, dict):
        return [*problems, f"file: top level is {type(batch).__name__}, expected an object"]
    _check_structure(batch, problems)
    rebuilt, rebuild_problems = rebuild_transactions(batch)
    for problem in rebuild_problems:
        if problem not in problems:
            problems.append(problem)
    if expected is not None:
        _check_expected(batch, rebuilt, expected, token, problems)
    return problems


# --------------------------------------------------------------------------------------------
# Safe CSV Airdrop file
# --------------------------------------------------------------------------------------------


def _token_units(amount_wei: int, decimals: int) -> str:
    """Exact plain decimal of ``amount_wei / 10**decimals``: no exponent, no trailing zeros or dot.

    Integer arithmetic on purpose: ``Decimal.scaleb`` rounds to the context precision (28
    digits by default), which would silently change large wei amounts.
    """
    whole, frac = divmod(amount_wei, 10**decimals)
    if decimals == 0 or frac == 0:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


def render_airdrop_csv(*, token: str | None, transfers: Sequence[BatchTransfer], decimals: int) -> bytes:
    """The Safe CSV Airdrop app file for one batch.

    Header ``token_type,token_address,receiver,amount,id``; rows ``erc20,<token>,...`` or, when
    `token` is None, ``native,,...``; ``amount`` in token units as an exact plain decimal
    (``1500000000000000000`` wei at 18 decimals -> ``1.5``); ``id`` empty; ``\\n`` line ends.
    No field ever needs CSV quoting (hex addresses and digits only).
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 77:
        raise ValueError(f"decimals must be an int in 0..77, got {decimals!r}")
    if token is not None:
        _require_eip55(token, "token")
    _require_transfers(transfers)
    kind, address = ("erc20", token) if token is not None else ("native", "")
    lines = ["token_type,token_address,receiver,amount,id"]
    lines += [f"{kind},{address},{t.recipient},{_token_units(t.amount_wei, decimals)}," for t in transfers]
    return ("\n".join(lines) + "\n").encode("utf-8")
