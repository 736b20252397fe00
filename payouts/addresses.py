"""Ethereum address hygiene (EIP-55), vectorized over unique values.

Accepted: `0x` + 40 hex digits, all lowercase, all uppercase (hex part) or a valid EIP-55 mixed-case
checksum. Everything else - whitespace, a homoglyph, a wrong length, a mixed-case string whose
checksum fails - is refused. Accepted values are returned in EIP-55 form.

EIP-55 is computed here for many addresses at once (`checksum_many`): one keccak per address, and
the case rule (a hex letter is upper case where its keccak nibble is >= 8) applied with numpy to
all of them together (one value alone: `checksum`, plain Python). Both give exactly
`eth_utils.to_checksum_address`, about 4x (one) to 10x (many) faster;
tests/unit/test_addresses_fast.py compares them on thousands of random addresses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")

OK = ""
BAD_FORMAT = "address_format"
BAD_CHECKSUM = "address_checksum"


def _keccak_digest_fn() -> Callable[[bytes], bytes]:
    """keccak256 -> 32-byte digest: pysha3's C keccak (safe-pysha3, a safe-eth-py dependency) when
    importable, else eth_utils' (the same hash, about 10x slower per call)."""
    try:
        from sha3 import keccak_256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - safe-pysha3 is pinned (constraints.txt)
        from eth_utils import keccak

        return keccak
    return lambda data: keccak_256(data).digest()


_keccak = _keccak_digest_fn()

# byte tables: ASCII a-f -> A-F (resp. A-F -> a-f), every other byte unchanged
_TO_UPPER = np.arange(256, dtype=np.uint8)
_TO_UPPER[ord("a") : ord("f") + 1] -= 32
_TO_LOWER = np.arange(256, dtype=np.uint8)
_TO_LOWER[ord("A") : ord("F") + 1] += 32


def _rows(values: Sequence[str]) -> np.ndarray:
    """Values that each match `_HEX40` as an (n, 42) uint8 array of their ASCII bytes."""
    return np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8).reshape(len(values), 42)


#: EIP-55 forms already computed (40 lowercase hex digits -> 40 EIP-55 digits), by every function
#: here, one value or many. A run checks the same addresses at several steps (input validation,
#: output validation, ledger, batches): each is hashed once per process. Bounded: cleared when
#: full (a 100k-node month has ~140k addresses). Safe on several threads: it is only read by
#: single calls (get, a copy of its values) and every entry it can hold is correct, so a race can
#: only cost a hash, never change an answer.
_EIP55_MEMO: dict[str, str] = {}
_EIP55_MEMO_MAX = 1 << 18

#: The memo's EIP-55 forms as whole addresses ("0x" + value), for `eip55_flags`: one set lookup
#: (C, via map) per value instead of slicing, lowercasing and a dict lookup in Python. Kept by
#: `_remember` for the memo object it was built from (`_forms_owner`); `_eip55_forms` rebuilds it
#: when `_EIP55_MEMO` is another object (tests swap in a fresh memo). Whatever its state, every
#: member is some address's exact EIP-55 form, so a hit is always a correct "yes"; a miss only
#: means "decide the slow way".
_EIP55_FORMS: set[str] = set()
_forms_owner: dict[str, str] | None = None


def _remember(computed: dict[str, str]) -> None:
    """Add fresh EIP-55 forms to the memo (and its set of forms), keeping it within its bound."""
    if len(_EIP55_MEMO) + len(computed) > _EIP55_MEMO_MAX:
        _EIP55_MEMO.clear()
        _EIP55_FORMS.clear()
    if len(computed) <= _EIP55_MEMO_MAX:
        _EIP55_MEMO.update(computed)
        if _forms_owner is _EIP55_MEMO:
            _EIP55_FORMS.update(["0x" + v for v in computed.values()])


def _eip55_forms() -> set[str]:
    """``{"0x" + form for form in _EIP55_MEMO.values()}``, kept up to date by `_remember`."""
    global _forms_owner
    memo = _EIP55_MEMO
    if _forms_owner is not memo:
        _EIP55_FORMS.clear()
        # list() copies the values in one C call: validation checks addresses on two threads
        # (schemas.inputs prefetch), and iterating a dict another thread grows would raise
        _EIP55_FORMS.update(["0x" + v for v in list(memo.values())])
        _forms_owner = memo
    return _EIP55_FORMS


def _eip55_hex(lower: np.ndarray) -> np.ndarray:
    """EIP-55 case of (n, 40) lowercase ASCII hex digits: one keccak per distinct row not seen
    before in this process (`_EIP55_MEMO`), the case rule in numpy."""
    n = len(lower)
    text = lower.tobytes().decode("ascii")
    keys = [text[i : i + 40] for i in range(0, 40 * n, 40)]
    found = {k: _EIP55_MEMO.get(k) for k in keys}
    missing = [k for k, v in found.items() if v is None]
    if missing:
        rows = np.frombuffer("".join(missing).encode("ascii"), dtype=np.uint8).reshape(len(missing), 40)
        fresh = _eip55_rows(rows).tobytes().decode("ascii")
        computed = {k: fresh[40 * j : 40 * j + 40] for j, k in enumerate(missing)}
        found.update(computed)
        _remember(computed)
    return np.frombuffer("".join([found[k] for k in keys]).encode("ascii"), dtype=np.uint8).reshape(n, 40)


def _eip55_rows(lower: np.ndarray) -> np.ndarray:
    """EIP-55 case of (n, 40) lowercase ASCII hex digits: one keccak per row, the case rule in numpy."""
    n = len(lower)
    flat = lower.tobytes()
    digests = np.frombuffer(
        b"".join([_keccak(flat[i : i + 40]) for i in range(0, 40 * n, 40)]), dtype=np.uint8
    ).reshape(n, 32)[:, :20]
    nibbles = np.empty((n, 40), dtype=np.uint8)  # the hash's first 40 hex digits, as numbers
    nibbles[:, 0::2] = digests >> 4
    nibbles[:, 1::2] = digests & 0x0F
    return np.where(nibbles >= 8, _TO_UPPER[lower], lower)


def _eip55_one(lower: str) -> str:
    """EIP-55 case of 40 lowercase hex digits, from the memo or hashed (one value: plain Python
    beats numpy's per-call cost)."""
    found = _EIP55_MEMO.get(lower)
    if found is None:
        digest = _keccak(lower.encode("ascii")).hex()
        found = "".join([c.upper() if d >= "8" else c for c, d in zip(lower, digest[:40], strict=True)])
        _remember({lower: found})
    return found


def _all_known_forms(values: list[object]) -> bool:
    """True when `values` is non-empty and every value is an exact str that is a memoized EIP-55
    form (so it is its own `checksum`): one C-speed pass, stopping at the first miss, so a list
    of new or non-EIP-55 spellings costs next to nothing here."""
    if not values:
        return False
    try:
        if not all(map(_eip55_forms().__contains__, values)):
            return False
    except TypeError:  # an unhashable value: not an address
        return False
    return set(map(type, values)) == {str}  # a hit by equality alone is not enough: exact str


def checksum(value: str) -> str:
    """The EIP-55 form of one `0x` + 40-hex-digit str (= `eth_utils.to_checksum_address`); else
    ValueError. For many values at once, `checksum_many` is faster."""
    if not isinstance(value, str) or _HEX40.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a 0x-prefixed 40-hex-digit address")
    return "0x" + _eip55_one(value[2:].lower())


def checksum_many(values: Sequence[str]) -> list[str]:
    """The EIP-55 form of each value (= `eth_utils.to_checksum_address`), in order.

    Every value must be a str of `0x` + 40 hex digits in any case; else ValueError naming the
    first one that is not. One keccak per value; the case rule is applied to all at once.
    """
    values = list(values)
    if _all_known_forms(values):  # all already EIP-55 and memoized: each is its own form
        return values
    for v in values:
        if not isinstance(v, str) or _HEX40.fullmatch(v) is None:
            raise ValueError(f"{v!r} is not a 0x-prefixed 40-hex-digit address")
    if not values:
        return []
    rows = _rows(values)
    out = np.empty_like(rows)
    out[:, :2] = rows[:, :2]
    out[:, 2:] = _eip55_hex(_TO_LOWER[rows[:, 2:]])
    text = out.tobytes().decode("ascii")
    return [text[i : i + 42] for i in range(0, len(text), 42)]


def _classify(values: Sequence[object]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """For the values that are 0x + 40 hex: (their indices, given hex rows, lowercase hex rows,
    EIP-55 hex rows), each (k, 40) uint8."""
    idx = [i for i, v in enumerate(values) if isinstance(v, str) and _HEX40.fullmatch(v) is not None]
    if not idx:
        empty = np.empty((0, 40), dtype=np.uint8)
        return idx, empty, empty, empty
    given = _rows([values[i] for i in idx])[:, 2:]  # type: ignore[misc]
    lower = _TO_LOWER[given]
    return idx, given, lower, _eip55_hex(lower)


def eip55_flags(values: Sequence[object]) -> np.ndarray:
    """For each value: True when it is a str exactly in its own EIP-55 form (`is_checksummed`).

    Vectorized for the output checks (100k+ addresses): one keccak per well-formed value.

    An EIP-55 form already computed in this process decides without a regex or a hash: when every
    value is an exact ``str`` (the output checks), by membership in `_eip55_forms` (C speed, ~6x
    faster than the loop); otherwise by looking the value's lowercase hex up in the memo (memo
    keys are exactly 40 lowercase hex digits, so a hit proves the format too). Both hits mean
    "`value` is exactly its EIP-55 form"; the values neither finds (new, or not EIP-55) are
    decided by `_classify`, so the result never depends on what the memo holds.
    """
    if len(values) and set(map(type, values)) == {str}:
        forms = _eip55_forms()
        out = np.fromiter(map(forms.__contains__, values), dtype=bool, count=len(values))
        rest = np.flatnonzero(~out).tolist()
    else:
        memo = _EIP55_MEMO
        known = [
            isinstance(v, str) and len(v) == 42 and v[:2] == "0x" and memo.get(v[2:].lower()) == v[2:]
            for v in values
        ]
        out = np.array(known, dtype=bool) if known else np.zeros(0, dtype=bool)
        rest = [i for i, k in enumerate(known) if not k]
    if rest:
        idx, given, _, expected = _classify([values[i] for i in rest])
        if idx:
            out[np.asarray(rest)[np.asarray(idx)]] = (expected == given).all(axis=1)
    return out


def _check_many(values: Sequence[object]) -> tuple[list[str | None], list[str]]:
    """`check_address` of each value: (EIP-55 forms or None, problem codes), one keccak per
    well-formed value."""
    fixed: list[str | None] = [None] * len(values)
    problems = [BAD_FORMAT] * len(values)
    idx, given, lower, expected = _classify(values)
    if not idx:
        return fixed, problems
    accepted = (
        (given == lower).all(axis=1)  # all lowercase
        | (given == _TO_UPPER[lower]).all(axis=1)  # all uppercase
        | (given == expected).all(axis=1)  # already EIP-55
    )
    text = expected.tobytes().decode("ascii")
    for k, (i, ok) in enumerate(zip(idx, accepted.tolist(), strict=True)):
        if ok:
            fixed[i], problems[i] = "0x" + text[40 * k : 40 * k + 40], OK
        else:
            problems[i] = BAD_CHECKSUM
    return fixed, problems


def check_address(value: str) -> tuple[str | None, str]:
    """(EIP-55 form or None, problem code) for one address string."""
    if not isinstance(value, str) or _HEX40.fullmatch(value) is None:
        return None, BAD_FORMAT
    hexpart = value[2:]
    checksummed = "0x" + _eip55_one(hexpart.lower())
    if hexpart == hexpart.lower() or hexpart == hexpart.upper() or value == checksummed:
        return checksummed, OK
    return None, BAD_CHECKSUM


def is_checksummed(value: str) -> bool:
    """True when `value` is exactly its own EIP-55 form (what signers and the builder require)."""
    return (
        isinstance(value, str)
        and _HEX40.fullmatch(value) is not None
        and "0x" + _eip55_one(value[2:].lower()) == value
    )


def check_address_series(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorized `check_address`: each unique value is checked once, then mapped back.

    Returns (checksummed or <NA>, problem code or "") aligned with `values`.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    fixed_list, problem_list = _check_many(list(uniques))
    fixed = pd.array([*fixed_list, None], dtype="string")
    problems = pd.array([*problem_list, BAD_FORMAT], dtype="string")
    # factorize gives -1 for NA; index -1 picks the appended sentinel entry.
    idx = codes.copy()
    idx[idx < 0] = len(uniques)
    return (
        pd.Series(fixed[idx], index=values.index, dtype="string"),
        pd.Series(problems[idx], index=values.index, dtype="string"),
    )


def identify_address_series(values: pd.Series) -> pd.Series:
    """The EIP-55 form of each value's *lowercase* address when it is 0x + 40 hex, else <NA>.

    Identifies the account a row is about even when its checksum is wrong or it carries stray
    whitespace - used to hold a node
    whose row was rejected, never to accept an address.
    """
    lowered = values.astype("string").str.strip().str.lower()  # " 0xAbC..." is the same account
    fixed, _ = check_address_series(lowered)
    return fixed
