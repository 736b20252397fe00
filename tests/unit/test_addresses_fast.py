"""payouts.addresses' own EIP-55 (bulk `checksum_many`, scalar `checksum`) is exactly eth_utils'.

The reference is eth_utils: `to_checksum_address` for the EIP-55 form and `is_checksum_address`
for "is exactly its own EIP-55 form"; `check_address` is compared with its former definition on top
of `to_checksum_address`. Random addresses are seeded, so a failure is reproducible.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from eth_utils import is_checksum_address, keccak, to_checksum_address

import payouts.addresses as addresses
from payouts.addresses import (
    BAD_CHECKSUM,
    BAD_FORMAT,
    OK,
    check_address,
    check_address_series,
    checksum,
    checksum_many,
    eip55_flags,
    identify_address_series,
    is_checksummed,
)

pytestmark = pytest.mark.unit

HEX = "0123456789abcdef"
CYRILLIC_A = "\u0430"  # looks like Latin "a"


def _random_hex40(rng: random.Random, n: int) -> list[str]:
    """n random `0x` + 40 hex addresses, each in random case."""
    out = []
    for _ in range(n):
        digits = "".join(rng.choice(HEX) for _ in range(40))
        out.append("0x" + "".join(c.upper() if rng.random() < 0.5 else c for c in digits))
    return out


def _reference_check(value: object) -> tuple[str | None, str]:
    """check_address as it was defined on eth_utils.to_checksum_address."""
    if not isinstance(value, str) or addresses._HEX40.fullmatch(value) is None:
        return None, BAD_FORMAT
    checksummed = to_checksum_address(value)
    h = value[2:]
    if h == h.lower() or h == h.upper() or value == checksummed:
        return checksummed, OK
    return None, BAD_CHECKSUM


def _wrong_checksum(address: str) -> str | None:
    """The EIP-55 address with its first letter's case flipped (None when it has no letter)."""
    for i, c in enumerate(address[2:], start=2):
        if c.isalpha():
            return address[:i] + c.swapcase() + address[i + 1 :]
    return None


def _corpus(seed: int = 11, n: int = 400) -> list[object]:
    """Valid, lowercase, uppercase, wrong-checksum, short, long, non-hex, homoglyph, whitespace,
    prefix variants and non-string values."""
    rng = random.Random(seed)
    values: list[object] = []
    for a in (to_checksum_address(v) for v in _random_hex40(rng, n)):
        wrong = _wrong_checksum(a)
        values += [
            a,
            a.lower(),
            "0x" + a[2:].upper(),
            a.upper(),  # "0X" prefix
            a[2:],  # no prefix
            a[:-1],  # short
            a + "0",  # long
            a[:10] + "g" + a[11:],  # non-hex
            a[:5] + CYRILLIC_A + a[6:],  # homoglyph
            " " + a,
            a + " ",
            a + "\n",
            "\t" + a,
            a[:20] + " " + a[21:],
        ]
        if wrong is not None:
            values.append(wrong)
    values += [
        None,
        float("nan"),
        pd.NA,
        7,
        1.5,
        b"0x" + b"00" * 20,
        ["0x" + "00" * 20],
        "",
        "0x",
        "0x" + "0" * 40,
        "0x" + "f" * 40,
        "0x" + "F" * 40,
        "0x" + CYRILLIC_A * 40,
        "0x" + "\u0660" * 40,  # Arabic-Indic zero: a digit to \d, not to [0-9]
        "0x" + "\uff41" * 40,  # fullwidth "a"
    ]
    return values


def test_checksum_many_equals_eth_utils_on_thousands_of_random_addresses() -> None:
    rng = random.Random(20260101)
    values = _random_hex40(rng, 5000)
    values += [v.lower() for v in values[:500]] + ["0x" + v[2:].upper() for v in values[500:1000]]
    expected = [to_checksum_address(v) for v in values]
    assert checksum_many(values) == expected
    assert [checksum(v) for v in values] == expected
    assert checksum_many(tuple(values[:3])) == expected[:3]  # any sequence
    assert checksum_many(v for v in values[:3]) == expected[:3]  # or iterable


def test_checksum_many_empty_and_refusals() -> None:
    assert checksum_many([]) == []
    good = to_checksum_address("0x" + "ab" * 20)
    for bad in [good[:-1], " " + good, good[:5] + CYRILLIC_A + good[6:], good.upper(), None, 7, ""]:
        with pytest.raises(ValueError, match="is not a 0x-prefixed 40-hex-digit address") as err:
            checksum_many([good, bad, good])
        assert repr(bad) in str(err.value)
        with pytest.raises(ValueError, match="is not a 0x-prefixed 40-hex-digit address"):
            checksum(bad)  # type: ignore[arg-type]


def test_vector_and_scalar_checks_equal_eth_utils_on_the_corpus() -> None:
    values = _corpus()
    reference = [_reference_check(v) for v in values]
    assert [check_address(v) for v in values] == reference  # type: ignore[arg-type]
    assert addresses._check_many(values) == ([r[0] for r in reference], [r[1] for r in reference])
    flags = [is_checksum_address(v) for v in values]
    assert [is_checksummed(v) for v in values] == flags  # type: ignore[arg-type]
    assert eip55_flags(values).tolist() == flags
    # the corpus covers every outcome
    assert {r[1] for r in reference} == {OK, BAD_FORMAT, BAD_CHECKSUM}
    assert True in flags and False in flags


def test_check_address_series_equals_the_per_value_reference() -> None:
    values = _corpus(seed=12, n=200)
    hashable = [v for v in values if not isinstance(v, list)]
    rng = random.Random(3)
    picked = [rng.choice(hashable) for _ in range(3000)]  # repeated values, shuffled
    for series in (
        pd.Series(picked, dtype=object, index=range(10, 10 + len(picked))),
        pd.Series([v if isinstance(v, str) else None for v in picked], dtype="string"),
        pd.Series([v if isinstance(v, str) else None for v in picked], dtype="str"),
    ):
        fixed, problems = check_address_series(series)
        assert str(fixed.dtype) == "string" and str(problems.dtype) == "string"
        assert fixed.index.equals(series.index) and problems.index.equals(series.index)
        expected = [_reference_check(None if v is pd.NA else v) for v in series.tolist()]
        assert [None if pd.isna(f) else f for f in fixed.tolist()] == [e[0] for e in expected]
        assert problems.tolist() == [e[1] for e in expected]


def test_check_address_series_empty_and_all_missing() -> None:
    for series in (pd.Series([], dtype="string"), pd.Series([], dtype=object)):
        fixed, problems = check_address_series(series)
        assert len(fixed) == len(problems) == 0
        assert str(fixed.dtype) == str(problems.dtype) == "string"
    fixed, problems = check_address_series(pd.Series([None, float("nan")], dtype=object))
    assert fixed.isna().all() and problems.tolist() == [BAD_FORMAT, BAD_FORMAT]
    assert eip55_flags([]).tolist() == []
    assert eip55_flags([None, 3]).dtype == np.bool_


def test_identify_address_series_lowercases_and_strips() -> None:
    a = to_checksum_address("0x" + "c0ffee" * 6 + "abcd")
    wrong = _wrong_checksum(a)
    fixed = identify_address_series(pd.Series([f" {wrong}\t", a.upper(), "nope", None], dtype=object))
    assert fixed.tolist()[:2] == [a, a]
    assert fixed.isna().tolist() == [False, False, True, True]


def test_eth_utils_keccak_fallback_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pysha3 the module uses eth_utils.keccak: same digests, same addresses."""
    rng = random.Random(4)
    values = _random_hex40(rng, 300)
    fast = checksum_many(values)
    monkeypatch.setattr(addresses, "_keccak", keccak)
    assert checksum_many(values) == fast == [to_checksum_address(v) for v in values]
    assert [checksum(v) for v in values] == fast


def test_output_schemas_use_the_same_implementation() -> None:
    import schemas.outputs as outputs

    assert outputs.eip55_flags is addresses.eip55_flags


def test_memo_gives_the_same_forms_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Second and later checks of an address come from the process memo: the same EIP-55 form
    as eth_utils, in any case of the input, and the memo never grows past its bound."""
    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    monkeypatch.setattr(addresses, "_EIP55_MEMO_MAX", 1000)
    rnd = random.Random(11)
    values = ["0x" + "".join(rnd.choice("0123456789abcdef") for _ in range(40)) for _ in range(150)]
    expected = [to_checksum_address(v) for v in values]
    for _ in range(2):  # cold, then (partly) from the memo
        assert addresses.checksum_many(values) == expected
        assert addresses.checksum_many([v.upper().replace("0X", "0x") for v in values]) == expected
        assert list(addresses.eip55_flags(expected)) == [True] * len(values)
        # from the memo or not, only the exact EIP-55 form is accepted
        mixed = [*values, *(e.swapcase().replace("0X", "0x") for e in expected), "0X" + expected[0][2:]]
        assert list(addresses.eip55_flags(mixed)) == [is_checksum_address(v) for v in mixed]
        assert len(addresses._EIP55_MEMO) == 150  # each distinct address hashed once
    monkeypatch.setattr(addresses, "_EIP55_MEMO_MAX", 64)
    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    assert addresses.checksum_many(values) == expected  # more than fit: computed, not kept
    assert addresses.checksum_many(values[:10]) == expected[:10]
    assert len(addresses._EIP55_MEMO) <= 64
