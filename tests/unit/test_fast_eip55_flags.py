"""`eip55_flags`' memo-hit fast path (a set of known EIP-55 forms, for lists of exact str) and
the output schemas' EIP-55 check give exactly `is_checksummed` / eth_utils for every value,
whatever the memo holds: cold, warm, swapped for another dict, cleared at its bound."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from eth_utils import is_checksum_address, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import addresses
from schemas import outputs

pytestmark = pytest.mark.unit


def _reference(values: list[object]) -> list[bool]:
    return [isinstance(v, str) and addresses.is_checksummed(v) for v in values]


def _corpus(seed: int, n: int) -> list[str]:
    """EIP-55 addresses and near misses: lowercase, uppercase, one letter's case flipped,
    whitespace, wrong length, 0X prefix, non-hex."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        good = to_checksum_address(f"0x{rng.getrandbits(160):040x}")
        letters = [i for i, c in enumerate(good) if i > 1 and c.isalpha()]
        flipped = good
        if letters:
            i = rng.choice(letters)
            flipped = good[:i] + good[i].swapcase() + good[i + 1 :]
        out += [
            good,
            good.lower(),
            "0x" + good[2:].upper(),
            flipped,
            " " + good,
            good[:-1],
            good + "0",
            "0X" + good[2:],
            good[:5] + "g" + good[6:],
            "",
        ]
    rng.shuffle(out)
    return out


class _Str(str):
    pass


@pytest.fixture
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})


def test_fast_path_equals_reference_cold_warm_and_after_a_swap(fresh_memo: None) -> None:
    values = _corpus(1, 300)
    want = [is_checksum_address(v) for v in values]
    assert want == _reference(values)
    for _ in range(2):  # cold (hashes), then warm (set hits)
        assert addresses.eip55_flags(values).tolist() == want
    # another memo object (a test, or a reset): the set is rebuilt for it, results unchanged
    addresses._EIP55_MEMO = {}
    assert addresses.eip55_flags(values).tolist() == want
    assert addresses.eip55_flags(values[::-1]).tolist() == want[::-1]


def test_a_stale_or_foreign_form_set_never_changes_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _corpus(2, 100)
    want = [is_checksum_address(v) for v in values]
    addresses.eip55_flags(values)  # the set now holds these forms
    # the memo is swapped and the set, still owned by the old memo, has every form
    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    assert addresses.eip55_flags(values).tolist() == want
    # the set is empty while the memo holds everything: all decided the slow way, same flags
    monkeypatch.setattr(addresses, "_EIP55_FORMS", set())
    assert addresses.eip55_flags(values).tolist() == want


def test_bounded_memo_keeps_the_form_set_bounded_and_results_exact(
    fresh_memo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(addresses, "_EIP55_MEMO_MAX", 64)
    monkeypatch.setattr(addresses, "_EIP55_FORMS", set())
    values = _corpus(3, 50)
    want = [is_checksum_address(v) for v in values]
    for chunk in range(0, len(values), 30):
        part = values[chunk : chunk + 30]
        assert addresses.eip55_flags(part).tolist() == want[chunk : chunk + 30]
        assert len(addresses._EIP55_MEMO) <= 64
        assert len(addresses._EIP55_FORMS) <= 64
    assert addresses._EIP55_FORMS <= {"0x" + v for v in addresses._EIP55_MEMO.values()}


def test_form_set_mirrors_the_memo(fresh_memo: None) -> None:
    values = _corpus(4, 40)
    addresses.eip55_flags(values)
    addresses.checksum_many([v for v in _corpus(5, 20) if addresses._HEX40.fullmatch(v)])
    addresses.checksum(to_checksum_address("0x" + "ab" * 20))
    assert addresses._eip55_forms() == {"0x" + v for v in addresses._EIP55_MEMO.values()}


@pytest.mark.parametrize(
    "values",
    [
        [],
        [None],
        [1, 2.5, b"0x", None],
        [float("nan")],
        [pd.NA, "x"],
        ["0x52908400098527886E0F7030069857D2E4169EE7", _Str("0x52908400098527886E0F7030069857D2E4169EE7")],
        [np.str_("0x52908400098527886E0F7030069857D2E4169EE7")],
        [_Str("0x52908400098527886e0f7030069857d2e4169ee7")],
        [["list"], {"dict": 1}],
    ],
    ids=repr,
)
def test_mixed_types_take_the_general_path_with_the_same_result(values: list[object]) -> None:
    addresses.checksum("0x52908400098527886E0F7030069857D2E4169EE7")  # in the memo
    assert addresses.eip55_flags(values).tolist() == _reference(values)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(_corpus(6, 30))
        | st.text(alphabet="0123456789abcdefABCDEFxX ", min_size=0, max_size=44),
        max_size=40,
    ),
    st.booleans(),
)
def test_random_lists_equal_reference(values: list[str], warm: bool) -> None:
    if warm:
        addresses.eip55_flags(values)
    assert addresses.eip55_flags(values).tolist() == _reference(values)


@pytest.mark.parametrize("dtype", [object, "str", "string"])
@pytest.mark.parametrize("optional", [False, True])
def test_output_check_equals_per_value_reference(dtype: object, optional: bool) -> None:
    values = _corpus(7, 60) * 2  # repeated values: factorized once
    series = pd.Series(values, dtype=dtype)  # type: ignore[call-overload]
    check = outputs._eip55(optional=optional)
    got = check._check_fn(series)
    want = [is_checksum_address(v) or (optional and v == "") for v in values]
    assert got.tolist() == want
    assert got.index.equals(series.index)


def test_output_check_marks_missing_values_false() -> None:
    series = pd.Series(["0x52908400098527886E0F7030069857D2E4169EE7", None, ""], dtype="string")
    assert outputs._eip55(optional=True)._check_fn(series).tolist() == [True, False, True]
    assert outputs._eip55()._check_fn(series).tolist() == [True, False, False]


def test_two_threads_share_the_memo_without_changing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation checks node and operator addresses on two threads at once (schemas.inputs
    prefetch): with the memo filling, rebuilt and cleared at a small bound meanwhile, every
    answer stays the reference's and nothing raises."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(addresses, "_EIP55_MEMO", {})
    monkeypatch.setattr(addresses, "_EIP55_MEMO_MAX", 500)
    corpora = [_corpus(seed, 150) for seed in (11, 12)]
    expected_flags = [_reference(c) for c in corpora]
    expected_checks = [[addresses.check_address(v) for v in c] for c in corpora]
    addresses._EIP55_MEMO.clear()

    def work(k: int) -> bool:
        for _ in range(20):
            fixed, problems = addresses.check_address_series(pd.Series(corpora[k], dtype=object))
            got = [(None if pd.isna(f) else f, p) for f, p in zip(fixed, problems, strict=True)]
            assert got == expected_checks[k]
            assert addresses.eip55_flags(corpora[k]).tolist() == expected_flags[k]
        return True

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert all(pool.map(work, [0, 1, 0, 1]))
